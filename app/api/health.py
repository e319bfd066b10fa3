"""`/healthz` (the process serves) and `/readyz` (the chat model is loaded)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.services import Services


def health_router(services: Services) -> APIRouter:
    """Probes for load balancers and orchestrators; not in the OpenAPI schema."""
    router = APIRouter()

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready once the chat model is loaded; 503 while loading or after a failure."""
        # Once loaded, the model's own id: `local:auto` names the one it chose.
        ready = services.state == "ready"
        body = {
            "status": services.state,
            "model": services.chat_model.id if ready else services.settings.chat_model,
        }
        if services.error:
            body["error"] = services.error
        return JSONResponse(body, status_code=200 if ready else 503)

    return router
