"""The HTTP server: our FastAPI app with health routes, Chainlit mounted at the root."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from app import auth
from app import services as services_module
from app.db import migrate
from app.db.actor import ActingUserMiddleware
from app.offline import OfflinePageMiddleware
from app.services import Services
from app.settings import Settings
from app.storage import storage_router
from app.upload_guard import upload_router

log = logging.getLogger(__name__)

CHAT_HANDLERS = Path(__file__).resolve().with_name("chat.py")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app. Call once per process: Chainlit's server is a singleton."""
    settings = settings or Settings()
    services = Services.from_settings(settings)
    services_module.install(services)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await migrate(settings.db_url)
        await auth.bootstrap(settings, services)
        # Mounted sub-apps get no lifespan (starlette#649): Chainlit's startup work is ours.
        services.start_warming()
        yield
        await services.close()

    app = FastAPI(title="Cadre", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(OfflinePageMiddleware)
    app.add_middleware(ActingUserMiddleware)
    auth.install(app, settings, services)  # login, revocation, origins, socket checks, SSO
    # Before Chainlit's mount: its catch-all route would shadow these.
    app.include_router(storage_router(services.data_layer, services.data_layer.storage))
    app.include_router(upload_router(settings.max_upload_mb * 2**20))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready once the chat model is loaded; 503 while loading or after a failure."""
        # Once loaded, the model's own id: `local:auto` names the one it chose.
        model = services.chat_model.id if services.state == "ready" else settings.chat_model
        body = {"status": services.state, "model": model}
        if services.error:
            body["error"] = services.error
        return JSONResponse(body, status_code=200 if services.state == "ready" else 503)

    _mount_chainlit(app)
    return app


def _mount_chainlit(app: FastAPI) -> None:
    from chainlit.utils import mount_chainlit

    mount_chainlit(app, target=str(CHAT_HANDLERS), path="/")
