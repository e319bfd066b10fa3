"""Revocation for Chainlit's stateless login tokens: each use is checked against the user row.

Chainlit's JWT (HS256, cookie `access_token` or `Authorization: Bearer`) carries the user's
identifier, `metadata.token_version` and `iat`. A token is revoked when its user no longer
exists or is disabled, when its version differs from the row's `token_version`, or when it
was issued before `sessions_revoked_at`. Nothing is cached: a `cadre users disable` run by
another process takes effect on the very next request or socket event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from chainlit.auth.cookie import _auth_cookie_name, get_token_from_cookies
from chainlit.auth.jwt import get_jwt_secret
from chainlit.user import User
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.users import Account, UserDirectory

log = logging.getLogger(__name__)

TOKEN_VERSION = "token_version"  # nosec B105  # a claim name, not a token
"""The key of the token's metadata that holds the user's token version."""

# Paths that never need a login: no database lookup for them.
_PUBLIC_PREFIXES = ("/assets/", "/public/", "/favicon", "/logo", "/healthz", "/readyz")


def login_user(account: Account, provider: str) -> User:
    """The user Chainlit puts in a login token; its metadata carries the token version."""
    return User(
        identifier=account.identifier,
        display_name=account.display_name,
        metadata={"role": account.role, "provider": provider, TOKEN_VERSION: account.token_version},
    )


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    identifier: str
    token_version: int
    issued_at: float | None
    expires: float | None = None
    """Unix time of `exp`; Cadre's tokens always carry one, Chainlit fails on those without."""


def read_token(token: str) -> TokenClaims | None:
    """The claims of a token signed with the current secret; None if it is not valid."""
    secret = get_jwt_secret()
    if not secret:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    identifier = claims.get("identifier")
    if not isinstance(identifier, str) or not identifier:
        return None
    metadata = claims.get("metadata")
    version = metadata.get(TOKEN_VERSION, 0) if isinstance(metadata, dict) else 0
    issued, expires = claims.get("iat"), claims.get("exp")
    return TokenClaims(
        identifier=identifier,
        token_version=version if isinstance(version, int) else -1,
        issued_at=float(issued) if isinstance(issued, int | float) else None,
        expires=float(expires) if isinstance(expires, int | float) else None,
    )


async def revocation_reason(directory: UserDirectory, token: str) -> str | None:
    """Why a validly signed token may no longer be used; None when it may (or is invalid).

    Invalid or expired tokens return None: Chainlit refuses those itself.
    """
    claims = read_token(token)
    if claims is None:
        return None
    if claims.expires is None:
        return "the token has no expiry"  # never one of ours: signed elsewhere with the secret
    account = await directory.get(claims.identifier)
    if account is None:
        return "the user does not exist"
    if account.disabled:
        return "the user is disabled"
    if claims.token_version != account.token_version:
        return "the user's sessions were revoked"
    revoked_at = account.sessions_revoked_at
    if revoked_at is not None and (
        claims.issued_at is None or claims.issued_at < int(revoked_at.timestamp())
    ):
        return "the token was issued before the user's sessions were revoked"
    return None


class RevocationMiddleware:
    """Drops revoked tokens from each request (HTTP and WebSocket) before anything reads them.

    The request goes on without the credential, so every route that needs a login answers
    401 as for a logged-out visitor (pages still load and show the login form), and the
    response clears the auth cookie.
    """

    def __init__(self, app: ASGIApp, directory: UserDirectory) -> None:
        self.app = app
        self.directory = directory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(_PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookies = cookie_parser(headers.get("cookie", ""))
        drop_cookie = drop_bearer = False
        if (token := get_token_from_cookies(cookies)) and (
            reason := await revocation_reason(self.directory, token)
        ):
            log.info("refused a login cookie on %s: %s", scope["path"], reason)
            drop_cookie = True
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        if (
            scheme.lower() == "bearer"
            and (bearer := bearer.strip())
            and (reason := await revocation_reason(self.directory, bearer))
        ):
            log.info("refused a bearer token on %s: %s", scope["path"], reason)
            drop_bearer = True
        if not (drop_cookie or drop_bearer):
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        scope["headers"] = _without_credentials(scope["headers"], drop_cookie, drop_bearer)
        if scope["type"] != "http" or not drop_cookie:
            await self.app(scope, receive, send)
            return
        stale = [name for name in cookies if name.startswith(_auth_cookie_name)]

        async def send_clearing(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                # A login answered on this request sets a new cookie: never clear that one.
                being_set = {
                    value.split("=", 1)[0].strip()
                    for value in response_headers.getlist("set-cookie")
                }
                for name in (name for name in stale if name not in being_set):
                    response_headers.append(
                        "set-cookie", f"{name}=; Max-Age=0; Path=/; HttpOnly; SameSite=lax"
                    )
            await send(message)

        await self.app(scope, receive, send_clearing)


def _without_credentials(
    raw: Iterable[tuple[bytes, bytes]], drop_cookie: bool, drop_bearer: bool
) -> list[tuple[bytes, bytes]]:
    kept: list[tuple[bytes, bytes]] = []
    for name, value in raw:
        if drop_bearer and name.lower() == b"authorization":
            continue
        if drop_cookie and name.lower() == b"cookie":
            value = _strip_auth_cookies(value.decode("latin-1")).encode("latin-1")
            if not value:
                continue
        kept.append((name, value))
    return kept


def _strip_auth_cookies(header: str) -> str:
    parts = [part.strip() for part in header.split(";")]
    return "; ".join(
        part for part in parts if part and not part.split("=", 1)[0].startswith(_auth_cookie_name)
    )
