"""The HTTP server: our FastAPI app with health routes, Chainlit mounted at the root."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app import auth
from app import services as services_module
from app.api.acting_user import ActingUserMiddleware
from app.api.actions import action_router
from app.api.files import FileHeadersMiddleware, storage_router
from app.api.health import health_router
from app.api.keys_page import keys_page_router
from app.api.openai_compat import install_openai_api
from app.api.operators import operators_router
from app.api.page import PageMiddleware
from app.api.stats import stats_router
from app.api.tasks import tasks_router
from app.api.upload_guard import UploadLimitMiddleware, upload_router
from app.api.widget import keep_site_origins_fresh, widget_router
from app.background_tasks import task_runner
from app.db import migrate
from app.services import Services
from app.settings import Settings

log = logging.getLogger(__name__)

CHAT_HANDLERS = Path(__file__).resolve().with_name("chat") / "handlers.py"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app. Call once per process: Chainlit's server is a singleton."""
    settings = settings or Settings()
    _keep_uploads_in(settings.uploads_dir)
    services = Services.from_settings(settings)
    services_module.install(services)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.uploads_dir.mkdir(exist_ok=True)
        _keep_private(settings.data_dir)
        await migrate(settings.db_url)
        await auth.bootstrap(settings, services)
        # Mounted sub-apps get no lifespan (starlette#649): Chainlit's startup work is ours.
        services.start_warming()
        await task_runner(services).start()  # pending tasks run again; interrupted ones say so
        # Another process (or `cadre sites add`) may register a site: know it without waiting.
        sites = asyncio.create_task(
            keep_site_origins_fresh(services, app.state.origin_policy.sites),
            name="cadre-site-origins",
        )
        yield
        sites.cancel()
        await asyncio.gather(sites, return_exceptions=True)
        await task_runner(services).stop()
        await services.close()

    # The API reference at /api/docs, with Swagger UI served from the wheel, not a CDN.
    app = FastAPIOffline(
        title="Cadre",
        summary="A chat-first AI workforce: REST API (/api) and OpenAI-compatible API (/v1).",
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        static_url="/api/docs/assets",
        favicon_url="/favicon",
    )
    app.add_middleware(PageMiddleware)
    app.add_middleware(FileHeadersMiddleware)
    app.add_middleware(UploadLimitMiddleware, max_bytes=settings.max_upload_mb * 2**20)
    app.add_middleware(ActingUserMiddleware)
    auth.install(app, settings, services)  # login, revocation, origins, socket checks, SSO
    # Before Chainlit's mount: its catch-all route would shadow these.
    app.include_router(storage_router(services.data_layer, services.data_layer.storage))
    app.include_router(upload_router(settings.max_upload_mb * 2**20))
    app.include_router(action_router())
    app.include_router(health_router(services))
    app.include_router(keys_page_router(services))  # /settings/keys: a person's API keys
    install_openai_api(app, services)  # /v1: OpenAI clients with a personal API key
    app.include_router(widget_router(services, app.state.origin_policy.sites))
    app.include_router(tasks_router(services))
    app.include_router(operators_router(services))
    app.include_router(stats_router(services))
    _mount_chainlit(app)
    return app


def _mount_chainlit(app: FastAPI) -> None:
    from chainlit.utils import mount_chainlit

    mount_chainlit(app, target=str(CHAT_HANDLERS), path="/")


def _keep_uploads_in(folder: Path) -> None:
    """Chainlit saves each chat upload under `.files/` beside the code (in a container, on
    the image's layer); keep them in the data folder with everything else a person uploads:
    private, on the data volume, where a full disk is one disk to free."""
    import chainlit.config as chainlit_config

    chainlit_config.FILES_DIRECTORY = folder  # read at each use (WebsocketSession.files_dir)


def _keep_private(data_dir: Path) -> None:
    """Close the data folder (and the SQLite files) to other accounts on this machine.

    New files are private through the process umask (app/cli/main.py); this also closes
    folders and databases made by earlier versions under a looser umask.
    """
    try:
        data_dir.chmod(0o700)
        for database in data_dir.glob("*.db*"):
            database.chmod(0o600)
    except OSError as exc:  # a mounted volume owned by someone else: say so, keep serving
        log.warning("could not make %s private (%s); restrict it by hand", data_dir, exc)
