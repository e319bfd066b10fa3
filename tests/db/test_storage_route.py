"""The file route: owners download, everyone else learns nothing; keys never leave the folder."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import chainlit as cl
import httpx
import pytest
from chainlit.auth import create_jwt
from chainlit.context import init_http_context
from fastapi import FastAPI
from sqlalchemy import update

from app.api.files import storage_router
from app.db import Element, StorageKeyError, User
from app.db.chainlit_data.layer import CadreDataLayer
from app.db.chainlit_data.storage import LocalStorageClient


@pytest.fixture
async def client(
    data_layer: CadreDataLayer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("CHAINLIT_CUSTOM_AUTH", "true")  # Chainlit requires a login
    api = FastAPI()
    api.include_router(storage_router(data_layer, data_layer.storage))
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def token(identifier: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_jwt(cl.User(identifier=identifier))}"}


async def attach(
    layer: CadreDataLayer, owner: str, name: str, data: bytes, mime: str | None = None
) -> str:
    """A thread of `owner` with one message carrying a file; returns the file's URL."""
    user = await layer.create_user(cl.User(identifier=owner))
    assert user is not None
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name="files", user_id=user.id)
    init_http_context(thread_id=thread_id)
    message = cl.Message(content="see attached", type="user_message")
    await layer.create_step(message.to_dict())
    file = cl.File(name=name, content=data, mime=mime, thread_id=thread_id, for_id=message.id)
    await layer.create_element(file)
    element = await layer.get_element(thread_id, file.id)
    assert element is not None
    return str(element["url"])


async def test_owner_downloads_others_get_404_anonymous_401(
    client: httpx.AsyncClient, data_layer: CadreDataLayer
) -> None:
    url = await attach(data_layer, "alice", "notes é.txt", b"alice's notes", "text/plain")
    await data_layer.create_user(cl.User(identifier="bob"))

    mine = await client.get(url, headers=token("alice"))
    assert mine.status_code == 200
    assert mine.content == b"alice's notes"
    assert mine.headers["content-type"].startswith("text/plain")
    assert mine.headers["x-content-type-options"] == "nosniff"
    assert mine.headers["content-disposition"].startswith("inline")

    client.cookies.set("access_token", create_jwt(cl.User(identifier="alice")))
    assert (await client.get(url)).content == b"alice's notes"
    client.cookies.clear()

    foreign = await client.get(url, headers=token("bob"))
    missing = await client.get("/storage/no/such/file.txt", headers=token("bob"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers={"Authorization": "Bearer junk"})).status_code == 401


async def test_scriptable_files_download_instead_of_rendering(
    client: httpx.AsyncClient, data_layer: CadreDataLayer
) -> None:
    page = await attach(data_layer, "alice", "x.html", b"<script>alert(1)</script>", "text/html")
    pdf = await attach(data_layer, "alice", "r.pdf", b"%PDF-1.4 ...", "application/pdf")
    html = await client.get(page, headers=token("alice"))
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"].startswith("attachment")
    assert html.headers["content-security-policy"] == "sandbox"
    doc = await client.get(pdf, headers=token("alice"))
    assert doc.headers["content-type"] == "application/pdf"
    assert doc.headers["content-disposition"].startswith("inline")


async def test_a_disabled_owner_cannot_download(
    client: httpx.AsyncClient, data_layer: CadreDataLayer
) -> None:
    url = await attach(data_layer, "alice", "a.txt", b"data", "text/plain")
    async with data_layer.writing() as session:
        await session.execute(update(User).where(User.identifier == "alice").values(disabled=True))
    assert (await client.get(url, headers=token("alice"))).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/storage/../cadre.db",
        "/storage/%2e%2e/%2e%2e/secret.txt",
        "/storage/..%2F..%2Fsecret.txt",
        "/storage/%2Fetc%2Fpasswd",
        "/storage//etc/passwd",
        "/storage/%252e%252e/secret.txt",
        "/storage/a/b/..%5C..%5Csecret.txt",
        "/storage/%00",
    ],
)
async def test_traversal_attempts_get_404(
    client: httpx.AsyncClient, data_layer: CadreDataLayer, tmp_path: Path, path: str
) -> None:
    (tmp_path / "secret.txt").write_text("canary")
    await attach(data_layer, "alice", "a.txt", b"data", "text/plain")
    response = await client.get(path, headers=token("alice"))
    assert response.status_code == 404
    assert b"canary" not in response.content


async def test_a_hostile_key_in_the_database_is_still_refused(
    client: httpx.AsyncClient, data_layer: CadreDataLayer, tmp_path: Path
) -> None:
    url = await attach(data_layer, "alice", "a.txt", b"data", "text/plain")
    key = url.removeprefix("/storage/")
    (tmp_path / "secret.txt").write_text("canary")
    link = data_layer.storage.base_dir / "link.txt"
    link.symlink_to(tmp_path / "secret.txt")
    for hostile in ("../secret.txt", "link.txt"):
        async with data_layer.writing() as session:
            await session.execute(
                update(Element).where(Element.object_key == key).values(object_key=hostile)
            )
        key = hostile
        response = await client.get(f"/storage/{hostile}", headers=token("alice"))
        assert response.status_code == 404
        assert b"canary" not in response.content


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a//b",
        "a/./b",
        "a\\..\\b",
        "nul\x00byte",
        "x" * 2000,
    ],
)
def test_storage_client_refuses_keys_that_could_escape(tmp_path: Path, key: str) -> None:
    storage = LocalStorageClient(tmp_path / "files")
    with pytest.raises(StorageKeyError):
        storage.resolve(key)


async def test_storage_client_round_trip(tmp_path: Path) -> None:
    storage = LocalStorageClient(tmp_path / "files")
    stored = await storage.upload_file("t/e/name with space.txt", "héllo", "text/plain")
    assert stored == {
        "object_key": "t/e/name with space.txt",
        "url": "/storage/t/e/name%20with%20space.txt",
    }
    assert await storage.read_file("t/e/name with space.txt") == "héllo".encode()
    with pytest.raises(FileExistsError):
        await storage.upload_file("t/e/name with space.txt", b"x", overwrite=False)
    assert await storage.delete_file("t/e/name with space.txt") is True
    assert await storage.delete_file("t/e/name with space.txt") is False
