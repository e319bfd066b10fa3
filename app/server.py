"""The HTTP server: our FastAPI app with health routes, Chainlit mounted at the root."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from app import auth
from app import services as services_module
from app.api.acting_user import ActingUserMiddleware
from app.api.files import storage_router
from app.api.health import health_router
from app.api.offline import OfflinePageMiddleware
from app.api.upload_guard import upload_router
from app.db import migrate
from app.services import Services
from app.settings import Settings

log = logging.getLogger(__name__)

CHAT_HANDLERS = Path(__file__).resolve().with_name("chat") / "handlers.py"


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
    app.include_router(health_router(services))
    _mount_chainlit(app)
    return app


def _mount_chainlit(app: FastAPI) -> None:
    from chainlit.utils import mount_chainlit

    mount_chainlit(app, target=str(CHAT_HANDLERS), path="/")
