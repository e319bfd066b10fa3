"""Chat files, served so that none of them can run in Cadre's origin.

`GET /storage/{key}` serves element files only to the owner of the element's thread.
Chainlit's own `GET /project/file/{id}` (files uploaded in the current session) serves them
as the browser declared them, inline; `FileHeadersMiddleware` rewrites its headers the same
way: only inert types inline, everything else as an attachment, never sniffed, sandboxed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chainlit.auth import get_current_user
from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.chainlit_data import CadreDataLayer
from app.db.chainlit_data.storage import LocalStorageClient
from app.db.errors import StorageKeyError

log = logging.getLogger(__name__)

# Served inline (the browser may render them in place); anything else downloads as bytes,
# so an uploaded HTML or SVG file can never run script on our origin.
_INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "application/pdf",
        "text/plain",
        # Chainlit's Plotly and Dataframe elements are JSON its UI fetches and parses only
        # when served as JSON; JSON never runs (nosniff, and a sandbox if opened directly).
        "application/json",
    }
)
_INLINE_PREFIXES = ("audio/", "video/")


def safe_file_headers(mime: str | None) -> tuple[str, dict[str, str], bool]:
    """The content type, extra headers and inline-ness to serve a file of type `mime` with."""
    mime = (mime or "").split(";")[0].strip().lower()
    inline = mime in _INLINE_TYPES or mime.startswith(_INLINE_PREFIXES)
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-cache"}
    if mime != "application/pdf":
        # Browsers refuse to render PDFs in a sandboxed document; everything else is inert.
        headers["Content-Security-Policy"] = "sandbox"
    return (mime if inline else "application/octet-stream"), headers, inline


class FileHeadersMiddleware:
    """Serves Chainlit's session files (`GET /project/file/...`) like `/storage` files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/project/file/"):
            await self.app(scope, receive, send)
            return

        async def harden(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 206):
                headers = MutableHeaders(raw=message["headers"])
                media_type, extra, inline = safe_file_headers(headers.get("content-type"))
                headers["content-type"] = media_type
                if not inline:
                    disposition = headers.get("content-disposition", "")
                    _, _, rest = disposition.partition(";")
                    headers["content-disposition"] = "attachment" + (f";{rest}" if rest else "")
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, harden)


CurrentUser = Callable[..., Awaitable[Any]]


def storage_router(
    data_layer: CadreDataLayer,
    storage: LocalStorageClient,
    current_user: CurrentUser = get_current_user,
) -> APIRouter:
    """`GET <prefix>/{object_key}`: the file, to the owner of the element's thread only.

    Anonymous callers get 401; everyone else gets 404 for a missing key, a foreign file and
    a malformed key alike, so the answer never reveals whether a file exists. Include it in
    the app before mounting Chainlit, whose catch-all route would shadow it.
    """
    router = APIRouter()
    requester = Depends(current_user)

    @router.get(storage.url_prefix + "/{object_key:path}", include_in_schema=False)
    async def download(object_key: str, user: Any = requester) -> FileResponse:
        if user is None:
            raise HTTPException(status_code=401, detail="log in to download files")
        try:
            path = storage.resolve(object_key)  # before the lookup: NUL bytes upset PostgreSQL
        except StorageKeyError as exc:
            log.warning("refused a download: %s", exc)
            raise HTTPException(status_code=404, detail="file not found") from exc
        found = await data_layer.stored_file(object_key)
        if found is None or found.owner_identifier != user.identifier:
            raise HTTPException(status_code=404, detail="file not found")
        if not path.is_file():
            log.error("element %s has no bytes on disk at %s", found.element_id, path)
            raise HTTPException(status_code=404, detail="file not found")
        media_type, headers, inline = safe_file_headers(found.mime)
        return FileResponse(
            path,
            media_type=media_type,
            filename=found.name or path.name,
            content_disposition_type="inline" if inline else "attachment",
            headers=headers,
        )

    return router
