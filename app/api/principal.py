"""Who calls Cadre's REST API (`/api/...`): a personal API key or the browser's login.

`Authenticated(services)` is a FastAPI dependency that returns the `Principal` of a request:
the holder of `Authorization: Bearer cadre-…` (an API key), or the signed-in person whose
Chainlit login token comes in the auth cookie or as a bearer token. The role is read from
the user's row on every request, so a demotion or a disabled account counts at once.
`Authenticated(services, role="admin")` answers 403 to everyone else.

Cross-site requests cannot ride on the cookie: the origin policy (app/auth/origins.py)
refuses browser requests from unknown origins before any route runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from chainlit.auth.cookie import get_token_from_cookies
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.api_keys import ApiKeyAuth, bearer_token
from app.auth.api_keys import KEY_START, ApiKeyStore
from app.auth.sites import WIDGET_PROVIDER
from app.auth.tokens import read_token
from app.auth.users import Account, UserDirectory, check_role
from app.services import Services

log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# Declares the scheme in the OpenAPI page ("Authorize" there sends the key); reading and
# checking the credential is `Authenticated`'s job, with the cookie as the other way in.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="API key",
    description="A personal API key (`cadre-…`): `cadre keys create USER` or the API keys page.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The user a REST request acts for."""

    user_id: str
    """`users.id`: owner of the tasks, documents and usage the request touches."""
    identifier: str
    """The login name."""
    role: str
    """`member` or `admin`, as the user's row says now."""
    via: Literal["api_key", "session"]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Authenticated:
    """A dependency: the request's `Principal`, or 401 (nobody) / 403 (not allowed)."""

    def __init__(self, services: Services, *, role: str = "member") -> None:
        self._role = check_role(role)
        self._users = UserDirectory(services.data_layer)
        self._keys = ApiKeyAuth(ApiKeyStore(services.data_layer))

    async def __call__(
        self,
        request: Request,
        _declared: HTTPAuthorizationCredentials | None = Depends(_BEARER),  # noqa: B008
    ) -> Principal:
        principal = await self._identify(request)
        if self._role == "admin" and not principal.is_admin:
            log.warning(
                "refused %s %s to %r: admins only",
                request.method,
                request.url.path,
                principal.identifier,
            )
            raise HTTPException(403, "This needs the admin role.")
        return principal

    async def _identify(self, request: Request) -> Principal:
        bearer = bearer_token(request)
        if bearer is not None and bearer.startswith(KEY_START):
            holder = await self._keys(request)
            return Principal(holder.user_id, holder.identifier, holder.role, "api_key")
        token = bearer or get_token_from_cookies(dict(request.cookies))
        account = await signed_in_person(self._users, token)
        if account is None:
            raise HTTPException(
                401,
                "Sign in, or send 'Authorization: Bearer <API key>' "
                "(create one with `cadre keys create USER`).",
                headers=_CHALLENGE,
            )
        return Principal(account.id, account.identifier, account.role, "session")


async def signed_in_person(users: UserDirectory, token: str | None) -> Account | None:
    """The person a login token stands for; None for no valid token or a disabled account.

    A widget site's anonymous visitor holds a valid login token too (app/api/widget.py), but
    is nobody to the REST API or the settings pages: None. Revoked tokens never get here
    (RevocationMiddleware drops them from the request).
    """
    claims = read_token(token) if token else None
    account = await users.get(claims.identifier) if claims else None
    if account is None or account.disabled or account.auth_provider == WIDGET_PROVIDER:
        return None
    return account
