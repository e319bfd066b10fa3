"""Who is asking: the user an HTTP request or a Chainlit session is authenticated as."""

from __future__ import annotations

from contextvars import ContextVar

import jwt
from chainlit.auth.cookie import get_token_from_cookies
from chainlit.auth.jwt import decode_jwt, get_jwt_secret
from chainlit.context import ChainlitContextException, context
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

acting_user: ContextVar[str | None] = ContextVar("cadre_acting_user", default=None)
"""The identifier of the user the current HTTP request is authenticated as."""


def current_actor(explicit: str | None = None) -> str | None:
    """The actor's identifier: `explicit`, else the HTTP request's user, else the session's."""
    if explicit:
        return explicit
    if (requester := acting_user.get()) is not None:
        return requester
    try:
        user = context.session.user
    except ChainlitContextException:
        return None  # background work outside any request or session
    return user.identifier if user is not None else None


class ActingUserMiddleware:
    """Sets `acting_user` for each HTTP request from its Chainlit token (cookie or bearer).

    Add it to the outer FastAPI app so the data layer knows who calls Chainlit's REST
    routes (feedback, thread rename/delete) and answers 404 for other users' threads.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = acting_user.set(_identifier_from_request(Request(scope)))
        try:
            await self.app(scope, receive, send)
        finally:
            acting_user.reset(token)


def _identifier_from_request(request: Request) -> str | None:
    if not get_jwt_secret():
        return None  # authentication is off
    token = get_token_from_cookies(request.cookies)
    if not token:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    if not token:
        return None
    try:
        return decode_jwt(token).identifier
    except (jwt.PyJWTError, TypeError, ValueError):
        return None  # Chainlit's own dependency answers 401 for this request
