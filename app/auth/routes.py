"""HTTP routes for single sign-on: `/auth/oidc/login`, `/auth/oidc/callback`, and the button.

Chainlit's login page links its provider buttons to `/auth/oauth/<id>`; Cadre answers that
path for its own provider (before Chainlit's route sees it) by starting the authlib flow.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from chainlit.auth import get_current_user
from chainlit.config import config
from chainlit.data import get_data_layer
from chainlit.types import UpdateFeedbackRequest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.auth.oidc import SingleSignOn
from app.auth.users import UserDirectory
from app.db.chainlit_data.layer import CadreDataLayer
from app.db.errors import NotFoundError
from app.settings import Settings

OIDC_PREFIX = "/auth/oidc"


def include_auth_routes(
    app: FastAPI, settings: Settings, directory: UserDirectory, secret: str
) -> None:
    """Add the single sign-on routes to `app` (before Chainlit is mounted)."""
    sso = SingleSignOn(settings, directory) if settings.oidc_discovery_url else None

    async def login(request: Request) -> Response:
        if sso is None:
            return _not_configured()
        return await sso.login(request)

    async def callback(request: Request) -> Response:
        if sso is None:
            return _not_configured()
        return await sso.callback(request)

    _include_feedback_route(app)

    # The flow's session cookie only holds a marker per started login (the state data
    # stays on the server); it is scoped to these two routes and signed with its own key.
    session_key = hashlib.sha256(b"cadre-oidc-session:" + secret.encode()).hexdigest()
    https = (settings.public_url or "").startswith("https://")
    flow = Starlette(
        routes=[Route("/login", login), Route("/callback", callback)],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=session_key,
                session_cookie="cadre_oidc",
                max_age=600,
                path=OIDC_PREFIX,
                same_site="lax",  # sent on the provider's top-level redirect back
                https_only=https,
            )
        ],
    )
    app.mount(OIDC_PREFIX, flow)

    if sso is not None:
        button = f"/auth/oauth/{settings.oidc_name}"

        @app.get(button, include_in_schema=False)
        async def chainlit_button() -> RedirectResponse:
            return RedirectResponse(f"{OIDC_PREFIX}/login", status_code=302)

        @app.get(button + "/callback", include_in_schema=False)
        async def chainlit_button_callback() -> Response:
            # Chainlit's own OAuth callback (no PKCE, no nonce) is never used.
            return JSONResponse({"detail": "use " + quote(OIDC_PREFIX) + "/login"}, 404)


def _include_feedback_route(app: FastAPI) -> None:
    """`PUT /feedback` as Chainlit's, but "not yours" answers 404 like "missing".

    Chainlit's route turns every data-layer error into a 500 naming the error; the data
    layer refuses feedback on another user's message with `NotFoundError`, which must
    reach the client as the 404 it is.
    """
    requester = Depends(get_current_user)

    @app.put("/feedback", include_in_schema=False)
    async def update_feedback(update: UpdateFeedbackRequest, user: Any = requester) -> Response:
        if user is None:
            return JSONResponse({"detail": "log in to give feedback"}, 401)
        data_layer = get_data_layer()
        if not isinstance(data_layer, CadreDataLayer):
            return JSONResponse({"detail": "history is not stored"}, 500)
        try:
            feedback_id = await data_layer.upsert_feedback(
                feedback=update.feedback, as_user=user.identifier
            )
        except NotFoundError as exc:
            return JSONResponse({"detail": exc.detail}, 404)
        if config.code.on_feedback:
            from chainlit.context import init_ws_context
            from chainlit.session import WebsocketSession

            session = WebsocketSession.get_by_id(update.sessionId)
            if session is not None and session.user and session.user.identifier == user.identifier:
                init_ws_context(session)
                await config.code.on_feedback(update.feedback)
        return JSONResponse({"success": True, "feedbackId": feedback_id})


def _not_configured() -> Response:
    return JSONResponse(
        {"detail": "single sign-on is not configured (set CADRE_OIDC_DISCOVERY_URL)"}, 404
    )
