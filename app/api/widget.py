"""`GET /widget/token`: a short-lived chat token for a visitor of a registered site.

The snippet that `cadre sites add` prints calls this from the site's page; the browser
sends the page's `Origin`, and only a registered origin gets a token (an HS256 JWT signed
with the login secret, the `accessToken` Chainlit's copilot widget takes). The token names
the visitor's own user (app/auth/sites.py), so visitors are isolated from each other; the
turn holds them to their site's operators, rate limit and daily budget (app/turns.py).

It is a GET, so the origin policy's check on state-changing requests does not apply;
nothing but a registered `Origin` makes it succeed. A non-browser client can forge an
Origin header, as it could open the page itself: what it gets is one more anonymous
visitor, with that visitor's limits.
"""

from __future__ import annotations

import asyncio
import logging

from chainlit.auth.jwt import get_jwt_secret
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from agents.errors import CadreError
from app.auth.origins import SiteOrigins
from app.auth.sites import TOKEN_SECONDS, SiteStore, VisitorRefusedError, visitor_token
from app.services import Services

log = logging.getLogger(__name__)


def widget_router(services: Services, registered: SiteOrigins) -> APIRouter:
    """The token route of the embeddable widget; keeps `registered` (for CORS) fresh."""
    router = APIRouter()
    sites = SiteStore(services.data_layer)

    @router.get("/widget/token", include_in_schema=False)
    async def token(request: Request) -> JSONResponse:
        if registered.stale():
            registered.replace(site.origin for site in await sites.list())
        origin = request.headers.get("origin")
        site = await sites.by_origin(origin)
        if site is None:
            log.warning("refused a widget token to origin %r: not a registered site", origin)
            return JSONResponse(
                {"detail": "This page's origin is not registered for the Cadre widget."}, 403
            )
        registered.add(site.origin)
        cors = {
            "Access-Control-Allow-Origin": site.origin,
            "Vary": "Origin",
            "Cache-Control": "no-store",
        }
        visitor = request.query_params.get("visitor") or None
        signature = request.query_params.get("signature") or None
        try:
            identifier, visitor, signature = await sites.visitor(site, visitor, signature)
        except VisitorRefusedError as exc:
            log.warning("refused a widget visitor of %s: %s", site.origin, exc)
            return JSONResponse({"detail": f"Visitor refused: {exc}."}, 403, headers=cors)
        secret = get_jwt_secret()
        if not secret:
            return JSONResponse({"detail": "Sign-in is not configured on this server."}, 503)
        body = {
            "token": visitor_token(site, identifier, secret),
            "visitor": visitor,
            "signature": signature,
            "expires_in": TOKEN_SECONDS,
        }
        return JSONResponse(body, headers=cors)

    return router


async def keep_site_origins_fresh(services: Services, registered: SiteOrigins) -> None:
    """Re-read the registered sites every `registered.max_age_s`, until cancelled.

    The socket handshake and CORS read `registered` without waiting for the database; with
    several server processes the widget's token may come from one and its socket go to
    another, which has then never served that site a token: it must know the site anyway.
    """
    sites = SiteStore(services.data_layer)
    while True:
        try:
            registered.replace(site.origin for site in await sites.list())
        except (CadreError, SQLAlchemyError, OSError):
            log.exception("could not read the widget's sites; keeping the last known ones")
        await asyncio.sleep(registered.max_age_s)
