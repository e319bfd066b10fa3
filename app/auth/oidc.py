"""Single sign-on with any OpenID Connect provider, on authlib's Starlette client.

authlib checks the state, sends a PKCE S256 challenge and a nonce, and verifies the
id_token (signature against the provider's JWKS, `iss`, `aud`, `exp`, `iat`, `nonce`,
`at_hash`). Cadre adds: the state data lives server-side (a copied session cookie cannot
replay a callback), a nonce is accepted once, only asymmetric signing algorithms are
allowed, and an identity provider can never log in as a password user.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth
from chainlit.auth import create_jwt
from chainlit.auth.cookie import set_auth_cookie
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.auth.errors import AuthConfigError, SingleSignOnError
from app.auth.tokens import login_user
from app.auth.users import OIDC, UserDirectory
from app.settings import Settings

log = logging.getLogger(__name__)

CALLBACK_PATH = "/auth/oidc/callback"
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
"""Accepted id_token algorithms: asymmetric only (never `none`, never a shared secret)."""
FLOW_TTL_S = 600
"""How long a started login may take before its state expires."""
_MAX_ENTRIES = 10_000


class _ExpiringStore:
    """authlib's cache interface in process memory, bounded, with expiry."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get(self, key: str) -> str | None:
        found = self._items.get(key)
        if found is None or found[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return found[1]

    async def set(self, key: str, value: str, expires: int | None = None) -> None:
        now = time.monotonic()
        while self._items and (len(self._items) >= _MAX_ENTRIES or self._oldest() < now):
            self._items.popitem(last=False)
        self._items[key] = (now + (expires or FLOW_TTL_S), value)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    def _oldest(self) -> float:
        return next(iter(self._items.values()))[0]


class SingleSignOn:
    """The OIDC login flow: `login` redirects to the provider, `callback` logs the user in."""

    def __init__(self, settings: Settings, directory: UserDirectory) -> None:
        if not (settings.oidc_discovery_url and settings.oidc_client_id):
            raise AuthConfigError(
                "single sign-on needs CADRE_OIDC_DISCOVERY_URL and CADRE_OIDC_CLIENT_ID"
            )
        name = settings.oidc_name
        if not name.strip() or len(name) > 64 or any(c in name for c in "/?#%\\"):
            raise AuthConfigError(
                "CADRE_OIDC_NAME must be 1-64 characters without / ? # % or backslashes"
            )
        if "openid" not in settings.oidc_scopes.split():
            raise AuthConfigError("CADRE_OIDC_SCOPES must include `openid`")
        self.settings = settings
        self.directory = directory
        self._used_nonces = _ExpiringStore()
        secret = settings.oidc_client_secret
        oauth = OAuth(cache=_ExpiringStore())
        self.client: Any = oauth.register(
            "cadre",
            client_id=settings.oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            server_metadata_url=settings.oidc_discovery_url,
            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
        )
        self.client.framework.expires_in = FLOW_TTL_S  # authlib's state expiry, in step

    def callback_url(self, request: Request) -> str:
        """Where the provider sends the browser back (`CADRE_PUBLIC_URL` when set)."""
        base = self.settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
        return base.rstrip("/") + CALLBACK_PATH

    async def login(self, request: Request) -> Response:
        """Redirect to the provider's login page with state, nonce and a PKCE challenge."""
        try:
            await self._load_metadata()
            response: Response = await self.client.authorize_redirect(
                request, self.callback_url(request)
            )
        except (AuthlibBaseError, httpx.HTTPError, ValueError, KeyError) as exc:
            log.error("single sign-on could not start: %s", exc)
            return _failed()
        return response

    async def callback(self, request: Request) -> Response:
        """Check everything the provider sent, then set Chainlit's login cookie."""
        try:
            await self._load_metadata()
            token = await self.client.authorize_access_token(request)
            claims = token.get("userinfo")
            if not claims:
                raise SingleSignOnError("the provider returned no id_token")
            nonce = str(claims.get("nonce"))
            if await self._used_nonces.get(nonce):
                raise SingleSignOnError("the id_token's nonce was already used")
            await self._used_nonces.set(nonce, "used", FLOW_TTL_S * 6)
            account = await self.directory.upsert_sso(
                self._identifier(claims), _display_name(claims), self._role(claims)
            )
            if account is None:
                raise SingleSignOnError(
                    "that name belongs to a password account or a disabled user"
                )
        except (AuthlibBaseError, JoseError, SingleSignOnError, httpx.HTTPError, ValueError) as exc:
            log.warning("refused a single sign-on login: %s", exc)
            return _failed()
        response = RedirectResponse("/", status_code=302)
        set_auth_cookie(request, response, create_jwt(login_user(account, OIDC)))
        log.info("%s logged in by single sign-on", account.identifier)
        return response

    async def _load_metadata(self) -> None:
        metadata = await self.client.load_server_metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        allowed = [alg for alg in offered if alg in SIGNING_ALGORITHMS]
        if not allowed:
            raise SingleSignOnError(
                f"the provider signs id_tokens with {offered}; Cadre accepts {SIGNING_ALGORITHMS}"
            )
        # authlib verifies with exactly these algorithms; refetched metadata is filtered again.
        metadata["id_token_signing_alg_values_supported"] = allowed

    def _identifier(self, claims: dict[str, Any]) -> str:
        claim = self.settings.oidc_identifier_claim
        value = claims.get(claim)
        if not isinstance(value, str) or not value:
            raise SingleSignOnError(
                f"the id_token has no {claim!r} claim: set CADRE_OIDC_IDENTIFIER_CLAIM to one "
                "it has (e.g. preferred_username) or add the scope that provides it"
            )
        if claim == "email":
            if claims.get("email_verified") is False:
                raise SingleSignOnError("the provider says this email address is not verified")
            value = value.lower()
        return value

    def _role(self, claims: dict[str, Any]) -> str | None:
        admin_groups = set(self.settings.oidc_admin_groups)
        if not admin_groups:
            return None  # roles are managed in Cadre (`cadre users set-role`)
        raw = claims.get(self.settings.oidc_groups_claim)
        values = {raw} if isinstance(raw, str) else set(raw) if isinstance(raw, list) else set()
        return "admin" if values & admin_groups else "member"


def _display_name(claims: dict[str, Any]) -> str | None:
    name = claims.get("name") or claims.get("preferred_username")
    return name[:255] if isinstance(name, str) and name else None


def _failed() -> Response:
    # Chainlit's login page shows its "could not sign in" message for this error code.
    return RedirectResponse("/login?error=oauthSignin", status_code=302)
