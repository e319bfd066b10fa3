"""Tells the data layer who each HTTP request is authenticated as (Chainlit's token)."""

from __future__ import annotations

import jwt
from chainlit.auth.cookie import get_token_from_cookies
from chainlit.auth.jwt import decode_jwt, get_jwt_secret
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.db.chainlit_data.actor import acting_user


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
    except (jwt.PyJWTError, TypeError, ValueError, KeyError):
        return None  # Chainlit's own dependency answers 401 for this request
