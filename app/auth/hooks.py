"""Chainlit's login callbacks: passwords checked against the users table; the SSO button.

Imported once by app/chat/handlers.py (the module Chainlit loads), which registers the callbacks.
"""

from __future__ import annotations

import logging

import chainlit as cl
from chainlit.oauth_providers import OAuthProvider, providers

from app import services
from app.auth.throttle import LoginThrottle, login_address
from app.auth.tokens import login_user
from app.auth.users import PASSWORD, UserDirectory
from app.db.limits import EventWindows

log = logging.getLogger(__name__)


_throttles: list[LoginThrottle] = []


def _throttle() -> LoginThrottle:
    """Failed password logins per name and per address, counted in the database (shared by
    every process on it); one throttle per data layer, kept for its clean-up times."""
    layer = services.current().data_layer
    if not _throttles or _throttles[0].windows.store is not layer:
        _throttles[:] = [LoginThrottle(EventWindows(layer))]
    return _throttles[0]


@cl.password_auth_callback
async def password_login(username: str, password: str) -> cl.User | None:
    """A user whose password matches and who is not disabled; None refuses the login."""
    name = username.strip()  # the one form the throttle and the password check both use
    address = login_address.get()
    throttle = _throttle()
    attempt = await throttle.attempt(name, address)
    if attempt is None:
        log.warning(
            "refused a password login for %r from %s: too many failures", name[:80], address
        )
        return None
    directory = UserDirectory(services.current().data_layer)
    account = await directory.check_password(name, password)
    if account is None:  # the attempt stays counted as a failure
        log.info("refused a password login for %r", name[:80])
        return None
    await throttle.succeeded(attempt)
    return login_user(account, PASSWORD)


class SingleSignOnButton(OAuthProvider):
    """Makes Chainlit's login page show "Continue with <name>" for Cadre's OIDC login.

    The button links to `/auth/oauth/<name>`, which Cadre's own route answers by starting
    its authlib flow (app/auth/oidc.py); Chainlit's OAuth code is never used.
    """

    env: list[str] = []  # noqa: RUF012 (Chainlit's attribute; "configured" when empty)

    def __init__(self, name: str) -> None:
        self.id = name
        self.client_id = ""
        self.client_secret = ""  # nosec B105  # empty; the secret comes from settings
        self.authorize_url = ""
        self.authorize_params = {}


_settings = services.current().settings
if _settings.oidc_discovery_url:
    if not any(provider.id == _settings.oidc_name for provider in providers):
        providers.append(SingleSignOnButton(_settings.oidc_name))

    @cl.oauth_callback
    async def chainlit_oauth_login(
        provider_id: str,
        token: str,
        raw_user_data: dict[str, str],
        default_user: cl.User,
        id_token: str | None = None,
    ) -> cl.User | None:
        """Refuses every login through Chainlit's own OAuth flow (no PKCE, no nonce)."""
        log.warning("refused a login through Chainlit's OAuth route for %r", provider_id)
        return None
