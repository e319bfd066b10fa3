"""Chainlit's upload endpoint, with the checks it lacks: empty and oversized files.

Chainlit answers an empty file with a 500 and reads any file whole before checking its size.
This route takes `POST /project/file` first (the parent app's routes win over the mount):
Starlette spools the upload to disk, so size is known without holding it in memory, and a
person gets a sentence saying what is wrong instead of a server error.
"""

from __future__ import annotations

from typing import Any

from chainlit.auth import get_current_user
from chainlit.server import upload_file
from fastapi import APIRouter, Depends, HTTPException, UploadFile


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
        return await upload_file(
            current_user=current_user,
            session_id=session_id,
            file=file,
            ask_parent_id=ask_parent_id,
        )

    return router
