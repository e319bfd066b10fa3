"""Chainlit's upload endpoint, with the checks it lacks: who is uploading, empty and
oversized files, a disk that fills while the file is saved.

Chainlit answers an empty file with a 500, and any upload — even without a login — is read
whole (spooled to a temporary file) before anything is checked. `UploadLimitMiddleware`
answers before the body is read: 401 without a valid login token, 413 when the declared
length is over the limit, and it stops reading (413) as soon as the bytes that arrive pass
the limit, whatever the request declared. `upload_router` then takes `POST /project/file`
first (the parent app's routes win over the mount), refuses empty files with a sentence and
saves the file itself: Chainlit's save leaves a half-written file behind and answers a 500
("Upload failed" in the browser) when the disk fills; here nothing of the file stays and the
person is told the disk is full (507), which the browser shows next to the file's name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import uuid
from pathlib import Path
from typing import Any

from chainlit.auth import get_current_user
from chainlit.auth.cookie import get_token_from_cookies
from chainlit.server import validate_file_upload
from chainlit.session import WebsocketSession
from fastapi import APIRouter, Depends, HTTPException, UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.tokens import read_token
from knowledge.errors import DiskFull, is_disk_full

log = logging.getLogger(__name__)

UPLOAD_PATH = "/project/file"
MULTIPART_OVERHEAD = 64 * 1024
"""Bytes allowed beyond the file limit for the multipart framing and the form's other fields."""
SESSION_WAIT_S = 10.0
"""How long an upload waits for its chat's socket to connect (see `_session`)."""


def upload_router(max_bytes: int) -> APIRouter:
    """`POST /project/file`, refusing empty files and files over `max_bytes`."""
    router = APIRouter()
    requester = Depends(get_current_user)

    @router.post("/project/file", include_in_schema=False)
    async def guarded_upload(
        session_id: str,
        file: UploadFile,
        ask_parent_id: str | None = None,
        current_user: Any = requester,
    ) -> Any:
        name = file.filename or "The file"
        if not file.size:
            raise HTTPException(400, f"{name} is empty: there is nothing to read.")
        if file.size > max_bytes:
            limit = max_bytes / 2**20
            raise HTTPException(413, f"{name} is larger than the {limit:.0f} MB upload limit.")
        return await _save(current_user, session_id, file, ask_parent_id)

    return router


async def _save(
    current_user: Any, session_id: str, file: UploadFile, ask_parent_id: str | None
) -> dict[str, str]:
    """Chainlit's `upload_file` (same checks, same answers), with a save that is all or
    nothing: the file is registered with the session only once every byte is on disk."""
    session = await _session(session_id)
    if not session:
        raise HTTPException(404, "Session not found")
    if current_user and (not session.user or session.user.identifier != current_user.identifier):
        raise HTTPException(401, "You are not authorized to upload files for this session")
    spec = session.files_spec.get(ask_parent_id) if ask_parent_id else None
    if ask_parent_id and not spec:
        raise HTTPException(404, "Parent message not found")
    if not file.filename or not file.content_type:
        raise HTTPException(400, "The upload has no file name or no content type.")
    try:
        validate_file_upload(file, spec=spec)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    content = await file.read()
    file_id = str(uuid.uuid4())
    target = session.files_dir / f"{file_id}{mimetypes.guess_extension(file.content_type) or ''}"
    try:
        await asyncio.to_thread(_write_whole, target, content)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        log.error(
            "The disk is full: the upload %r (%d bytes) could not be saved in %s; nothing of "
            "it was kept",
            file.filename,
            len(content),
            target.parent,
        )
        raise HTTPException(507, str(DiskFull(file.filename))) from exc
    session.files[file_id] = {
        "id": file_id,
        "path": target,
        "name": file.filename,
        "type": file.content_type,
        "size": len(content),
    }
    return {"id": file_id}


async def _session(session_id: str) -> WebsocketSession | None:
    """The chat session `session_id` names. The browser makes the id up and uploads a file
    dropped right after the page loads at once, while its socket may still be connecting on
    a busy machine ("Session not found" lost the file): an id the browser could have made
    waits up to `SESSION_WAIT_S` for its socket; any other is refused at once."""
    session: WebsocketSession | None = WebsocketSession.get_by_id(session_id)
    try:
        uuid.UUID(session_id)
    except ValueError:
        return session
    deadline = asyncio.get_running_loop().time() + SESSION_WAIT_S
    while session is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        session = WebsocketSession.get_by_id(session_id)
    return session


def _write_whole(target: Path, content: bytes) -> None:
    """Write `content` to `target` completely, or leave nothing at `target`."""
    partial = target.with_name(f".{target.name}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(content)
        partial.replace(target)
    except OSError:
        partial.unlink(missing_ok=True)
        raise


class UploadLimitMiddleware:
    """Refuses uploads before reading them: unauthenticated, or larger than `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if not _logged_in(request):
            await _refuse(send, 401, "Log in to upload files.")
            return
        limit = self.max_bytes + MULTIPART_OVERHEAD
        too_large = f"The file is larger than the {self.max_bytes / 2**20:.0f} MB upload limit."
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, too_large)
            return
        received = 0
        over = False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True  # stop here: the parser sees a client that went away
                    return {"type": "http.disconnect"}
            return message

        answered = False

        async def replaced(message: Message) -> None:
            nonlocal answered
            if not over:
                await send(message)
            elif not answered:
                answered = True
                await _refuse(send, 413, too_large)

        await self.app(scope, counted, replaced)
        if over and not answered:
            await _refuse(send, 413, too_large)


def _logged_in(request: Request) -> bool:
    token = get_token_from_cookies(request.cookies)
    if not token:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    claims = read_token(token) if token else None
    return claims is not None and claims.expires is not None


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
