"""Cross-site request forgery checks for Cadre's own HTML forms (the API keys page).

Two independent checks guard every state-changing form post, on top of the login cookie's
`SameSite=Lax` (browsers leave it off cross-site POSTs):

- the request must come from Cadre's own origin. The origin policy (app/auth/origins.py)
  also lets the configured origins and the widget's registered sites through, which is
  right for the chat and the widget but not for pages that mint credentials: a shop that
  embeds the widget must not be able to create an API key for its visitor;
- the form must carry a token only Cadre can compute: an HMAC of the visitor's login token,
  keyed with the login secret. A page on another origin cannot read it, and it changes with
  each login.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

from app.auth.origins import normalize_origin

_PURPOSE = b"cadre-form-token:"


def form_token(secret: str, login_token: str) -> str:
    """The token Cadre's forms carry for the session whose login token is `login_token`."""
    return hmac.new(secret.encode(), _PURPOSE + login_token.encode(), hashlib.sha256).hexdigest()


def valid_form_token(secret: str, login_token: str, sent: str | None) -> bool:
    """Whether `sent` is the form token of that session (compared in constant time)."""
    return bool(sent) and hmac.compare_digest(form_token(secret, login_token), str(sent))


def same_origin(request: Request, public_url: str | None = None) -> bool:
    """Whether a browser sent `request` from Cadre's own pages.

    A request without `Origin` and `Sec-Fetch-Site` comes from no browser (a script with the
    cookie already has the session); browsers send both on every cross-origin POST.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    if public_url is not None and normalized == normalize_origin(public_url):
        return True
    host = request.headers.get("host", "").strip().lower()
    return bool(host) and urlsplit(normalized).netloc == host
