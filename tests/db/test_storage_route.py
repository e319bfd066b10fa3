"""The file route: owners download, everyone else learns nothing; keys never leave the folder."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

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
def api(data_layer: CadreDataLayer, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("CHAINLIT_CUSTOM_AUTH", "true")  # Chainlit requires a login
    app = FastAPI()
    app.include_router(storage_router(data_layer, data_layer.storage))
    return app


@pytest.fixture
async def client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def token(identifier: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_jwt(cl.User(identifier=identifier))}"}


async def raw_get(app: FastAPI, raw_path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """GET `raw_path` exactly as written, the way uvicorn hands a request line to the app.

    httpx (like browsers) removes `..` segments before sending, so a traversal sent through
    it never reaches the server; an attacker's raw socket does send them.
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),  # what uvicorn does: percent-decoded, never normalised
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    status = 0
    body = bytearray()

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))  # type: ignore[arg-type]

    await app(scope, receive, send)  # type: ignore[arg-type]
    return status, bytes(body)


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


async def test_a_chart_s_json_is_served_as_json_and_inert(
    client: httpx.AsyncClient, data_layer: CadreDataLayer
) -> None:
    # A Plotly element: the UI draws the chart only from a response typed as JSON.
    chart = await attach(
        data_layer, "alice", "chart", b'{"data": [], "layout": {}}', "application/json"
    )
    served = await client.get(chart, headers=token("alice"))
    assert served.headers["content-type"] == "application/json"
    assert served.json() == {"data": [], "layout": {}}
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "sandbox"


async def test_a_disabled_owner_cannot_download(
    client: httpx.AsyncClient, data_layer: CadreDataLayer
) -> None:
    url = await attach(data_layer, "alice", "a.txt", b"data", "text/plain")
    async with data_layer.writing() as session:
        await session.execute(update(User).where(User.identifier == "alice").values(disabled=True))
    assert (await client.get(url, headers=token("alice"))).status_code == 404


@pytest.mark.parametrize(
    ("path", "key_refused"),
    [
        ("/storage/../secret.txt", True),
        ("/storage/../../cadre.db", True),
        ("/storage/%2e%2e/secret.txt", True),
        ("/storage/..%2F..%2Fsecret.txt", True),
        ("/storage/%2Fetc%2Fpasswd", True),
        ("/storage//etc/passwd", True),
        ("/storage/a/b/..%5C..%5Csecret.txt", True),
        ("/storage/%00", True),
        ("/storage/%252e%252e/secret.txt", False),  # a literal "%2e%2e" folder: no such file
    ],
)
async def test_traversal_attempts_get_404(
    api: FastAPI,
    data_layer: CadreDataLayer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    path: str,
    key_refused: bool,
) -> None:
    (tmp_path / "secret.txt").write_text("canary")
    await attach(data_layer, "alice", "a.txt", b"data", "text/plain")
    with caplog.at_level(logging.WARNING, logger="app.api.files"):
        status, body = await raw_get(api, path, token("alice"))
    assert status == 404
    assert b"canary" not in body
    # The `..` reached the route as sent, and the key check (not luck) refused it.
    refused = [r for r in caplog.records if r.getMessage().startswith("refused a download")]
    assert bool(refused) is key_refused, caplog.text


async def test_a_hostile_key_in_the_database_is_still_refused(
    api: FastAPI, client: httpx.AsyncClient, data_layer: CadreDataLayer, tmp_path: Path
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
        # Sent raw: the database names this very key, so only the key check stands between
        # the owner and a file outside the folder.
        status, body = await raw_get(api, f"/storage/{hostile}", token("alice"))
        assert status == 404
        assert b"canary" not in body


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
