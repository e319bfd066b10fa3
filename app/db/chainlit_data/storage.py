"""Element bytes on local disk (Chainlit's storage client); app/api/files.py serves them."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chainlit.data.storage_clients.base import BaseStorageClient

from app.db.errors import ElementPathError, StorageKeyError

if TYPE_CHECKING:
    from chainlit.element import Element


log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 1024


class LocalStorageClient(BaseStorageClient):
    """Chainlit storage client that keeps element bytes under one directory."""

    def __init__(self, base_dir: Path, url_prefix: str = "/storage") -> None:
        self.base_dir = Path(base_dir).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.url_prefix = url_prefix.rstrip("/")

    def resolve(self, object_key: str) -> Path:
        """The file for `object_key`; raises `StorageKeyError` for any key that could escape."""
        _check_key(object_key)
        path = (self.base_dir / object_key).resolve()
        # resolve() follows symlinks and "..", so this also catches a link planted inside.
        if path == self.base_dir or not path.is_relative_to(self.base_dir):
            raise StorageKeyError(f"object key {object_key!r} points outside the storage folder")
        return path

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        """Write the bytes atomically (a crash leaves the old file or the new, never half)."""
        path = self.resolve(object_key)
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        await asyncio.to_thread(_write_atomically, path, payload, overwrite)
        return {"object_key": object_key, "url": await self.get_read_url(object_key)}

    async def read_file(self, object_key: str) -> bytes:
        """The stored bytes; raises FileNotFoundError when there are none."""
        return await asyncio.to_thread(self.resolve(object_key).read_bytes)

    async def delete_file(self, object_key: str) -> bool:
        """Remove the file; False when there was nothing to remove."""
        path = self.resolve(object_key)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True

    async def get_read_url(self, object_key: str) -> str:
        """The URL our own route serves the file at (after an ownership check)."""
        _check_key(object_key)
        return f"{self.url_prefix}/{quote(object_key, safe='/')}"

    async def close(self) -> None:
        """Nothing to release: files are opened per call."""


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def object_key_for(thread_id: str, element_id: str, name: str) -> str:
    """`<thread>/<element>/<name>`, every part reduced to safe characters."""
    parts = [_UNSAFE.sub("_", p).lstrip(".")[:100] or "_" for p in (thread_id, element_id, name)]
    return "/".join(parts)


async def element_bytes(element: Element, readable: Sequence[Path]) -> bytes | None:
    """The element's bytes from `path` or `content`; None when it only has a URL.

    A `path` is read only inside the `readable` folders (Cadre's data folder, Chainlit's
    uploads), after following links: an element whose path came from a client or a model
    could otherwise copy any file the server can read into a thread (CVE-2026-22218).
    """
    if element.path:
        return await asyncio.to_thread(_read_inside, Path(element.path), readable, element.id)
    if element.content is not None:
        content = element.content
        return content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return None


def _read_inside(path: Path, readable: Sequence[Path], element_id: str) -> bytes:
    resolved = path.resolve()  # follows links: one planted inside cannot point out
    if not any(resolved.is_relative_to(folder.resolve()) for folder in readable):
        raise ElementPathError(
            f"element {element_id} names a file outside Cadre's data and upload folders; "
            "pass the bytes as content= instead"
        )
    return resolved.read_bytes()


def _check_key(object_key: str) -> None:
    if not object_key or len(object_key) > MAX_KEY_LENGTH:
        raise StorageKeyError(f"object key must be 1-{MAX_KEY_LENGTH} characters")
    if "\x00" in object_key or "\\" in object_key or object_key.startswith("/"):
        raise StorageKeyError(f"object key {object_key!r} must be a relative path with /")
    if any(part in ("", ".", "..") for part in object_key.split("/")):
        raise StorageKeyError(f"object key {object_key!r} has an empty, '.' or '..' segment")


def _write_atomically(path: Path, payload: bytes, overwrite: bool) -> None:
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
