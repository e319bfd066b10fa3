"""The data layer, driven with the dicts Chainlit really produces, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import chainlit as cl
import httpx
import jwt
import pytest
from chainlit.auth import create_jwt
from chainlit.context import init_http_context, init_ws_context
from chainlit.session import WebsocketSession
from chainlit.types import Feedback, Pagination, ThreadFilter
from fastapi import FastAPI
from sqlalchemy import delete, func, select, update

from app.api.acting_user import ActingUserMiddleware
from app.db import (
    AgentRecord,
    ApiKey,
    DocumentRow,
    Element,
    NotFoundError,
    OwnershipError,
    RemoteElementError,
    Step,
    TaskRecord,
    UsageRecord,
    User,
)
from app.db import Feedback as FeedbackRow
from app.db.chainlit_data.calls import settle_writes
from app.db.chainlit_data.layer import CadreDataLayer, acting_user
from app.db.errors import ElementPathError


@contextmanager
def acting_as(identifier: str | None) -> Iterator[None]:
    """Run the block as if an HTTP request authenticated as `identifier` made it."""
    token = acting_user.set(identifier)
    try:
        yield
    finally:
        acting_user.reset(token)


async def make_user(layer: CadreDataLayer, name: str, role: str = "member") -> cl.PersistedUser:
    user = await layer.create_user(cl.User(identifier=name, metadata={"role": role}))
    assert user is not None
    return user


async def make_thread(
    layer: CadreDataLayer, owner: cl.PersistedUser, name: str = "chat", text: str = "hello"
) -> tuple[str, str]:
    """A named thread owned by `owner` with one user message; returns (thread id, step id)."""
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name=name, user_id=owner.id)
    init_http_context(thread_id=thread_id)
    message = cl.Message(content=text, author=owner.identifier, type="user_message")
    await layer.create_step(message.to_dict())
    return thread_id, message.id


async def count(layer: CadreDataLayer, model: Any) -> int:
    async with layer.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# -- users ------------------------------------------------------------------------------------


async def test_users_keep_their_role_and_disabled_flag_across_logins(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice", role="admin")
    assert alice.metadata["role"] == "admin"
    assert alice.metadata["disabled"] is False

    again = await data_layer.create_user(
        cl.User(
            identifier="alice",
            display_name="Alice A.",
            metadata={"role": "member", "disabled": True, "image": "a.png"},
        )
    )
    assert again is not None
    assert again.id == alice.id
    fetched = await data_layer.get_user("alice")
    assert fetched is not None
    assert fetched.metadata == {"role": "admin", "disabled": False, "image": "a.png"}
    assert fetched.display_name == "Alice A."

    async with data_layer.writing() as session:
        await session.execute(update(User).where(User.id == alice.id).values(disabled=True))
    await data_layer.create_user(cl.User(identifier="alice", metadata={"disabled": False}))
    fetched = await data_layer.get_user("alice")
    assert fetched is not None
    assert fetched.metadata["disabled"] is True

    bob = await data_layer.create_user(cl.User(identifier="bob", metadata={"role": "root"}))
    assert bob is not None
    assert bob.metadata["role"] == "member"
    assert await data_layer.get_user("nobody") is None


# -- threads ----------------------------------------------------------------------------------


async def test_thread_create_update_get_with_json_as_python_objects(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice")
    thread_id = str(uuid.uuid4())
    metadata = {
        "chat_profile": "Research",
        "chat_settings": {"temperature": 0.2, "tools": ["search", "calc"], "deep": True},
        "nested": {"list": [1, 2.5, None, "ü", {"k": False}]},
        "drop_me": "x",
    }
    await data_layer.update_thread(
        thread_id, name="First", user_id=alice.id, metadata=metadata, tags=["Research"]
    )
    await data_layer.update_thread(thread_id, metadata={"drop_me": None, "extra": 1})

    thread = await data_layer.get_thread(thread_id)
    assert thread is not None
    assert thread["name"] == "First"
    assert thread["userId"] == alice.id
    assert thread["userIdentifier"] == "alice"
    assert thread["tags"] == ["Research"]
    expected = {k: v for k, v in metadata.items() if k != "drop_me"} | {"extra": 1}
    assert thread["metadata"] == expected
    assert isinstance(thread["metadata"]["chat_settings"]["temperature"], float)
    assert thread["createdAt"].endswith("Z")
    assert await data_layer.get_thread_author(thread_id) == "alice"
    assert await data_layer.get_thread_author("missing") == ""
    assert await data_layer.get_thread("missing") is None
    assert await data_layer.get_thread("nul\x00byte") is None
    assert await data_layer.get_thread_author("nul\x00byte") == ""


async def test_update_thread_never_reassigns_the_owner(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    bob = await make_user(data_layer, "bob")
    thread_id, _ = await make_thread(data_layer, alice, name="Alice's")

    with pytest.raises(OwnershipError):
        await data_layer.update_thread(thread_id, user_id=bob.id)
    with acting_as("bob"), pytest.raises(NotFoundError):
        await data_layer.update_thread(thread_id, name="stolen", metadata={"x": 1})
    with acting_as("bob"), pytest.raises(NotFoundError):
        await data_layer.delete_thread(thread_id)
    with acting_as("bob"):
        assert await data_layer.get_thread_author(thread_id) == ""
    with acting_as("alice"):
        assert await data_layer.get_thread_author(thread_id) == "alice"

    thread = await data_layer.get_thread(thread_id)
    assert thread is not None
    assert (thread["userId"], thread["name"], thread["metadata"]) == (alice.id, "Alice's", {})


async def test_a_thread_created_by_its_first_step_gets_its_owner_later(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice")
    thread_id = str(uuid.uuid4())
    init_http_context(thread_id=thread_id)
    # Chainlit may persist the first message before it names the thread and its owner.
    await data_layer.create_step(cl.Message(content="hi", type="user_message").to_dict())
    assert await data_layer.get_thread_author(thread_id) == ""
    await data_layer.update_thread(thread_id, name="hi", user_id=alice.id)
    assert await data_layer.get_thread_author(thread_id) == "alice"


# -- steps ------------------------------------------------------------------------------------


async def test_steps_keep_every_key_chainlit_sends(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    thread_id = str(uuid.uuid4())
    await data_layer.update_thread(thread_id, name="keys", user_id=alice.id)
    init_http_context(thread_id=thread_id)

    question = cl.Message(
        content="find the report",
        author="alice",
        type="user_message",
        command="search",
        modes={"model": "local:smollm2"},
        tags=["q"],
        metadata={"files": [1, 2]},
    )
    answer = cl.Message(content="", author="Chief of Staff", parent_id=question.id)
    tool = cl.Step(
        name="Researcher",
        type="tool",
        parent_id=answer.id,
        language="python",
        show_input="json",
        default_open=True,
        auto_collapse=True,
        icon="search",
        tags=["delegation"],
        metadata={"run_id": "r1"},
    )
    tool.input = '{"query": "report"}'
    tool.output = "3 passages"
    tool.is_error = False
    tool.start, tool.end = "2026-01-01T00:00:00.000001Z", "2026-01-01T00:00:01.5Z"
    plain = cl.Step(name="plain", type="run", show_input=True)

    dicts: list[dict[str, Any]] = [
        dict(question.to_dict()),
        dict(answer.to_dict()),
        dict(tool.to_dict()),
        dict(plain.to_dict()),
    ]
    dicts[2]["generation"] = {"provider": "local", "promptTokens": 12, "messages": [{"a": 1}]}
    dicts[3]["futureKey"] = {"from": "a newer Chainlit"}
    for step in dicts:
        await data_layer.create_step(step)  # type: ignore[arg-type]
    # Streaming ends with an update carrying the final text.
    answer.content = "Here it is."
    answer.streaming = False
    dicts[1] = dict(answer.to_dict())
    await data_layer.update_step(answer.to_dict())

    thread = await data_layer.get_thread(thread_id)
    assert thread is not None
    stored = {s["id"]: s for s in thread["steps"]}
    for sent in dicts:
        got = stored[sent["id"]]
        for key, value in sent.items():
            assert got[key] == value, key  # type: ignore[literal-required]
            assert type(got[key]) is type(value), key  # type: ignore[literal-required]
    assert stored[tool.id]["metadata"]["icon"] == "search"
    assert json.loads(json.dumps(thread)) == thread  # what Chainlit's REST route sends
    assert stored[plain.id]["showInput"] is True
    assert [s["id"] for s in thread["steps"]][:2] == [question.id, answer.id]


async def test_deleting_a_step_removes_its_feedback_and_elements(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice")
    thread_id, step_id = await make_thread(data_layer, alice)
    await data_layer.create_element(
        cl.Text(name="a.txt", content="bytes", thread_id=thread_id, for_id=step_id)
    )
    await data_layer.upsert_feedback(Feedback(forId=step_id, value=1), as_user="alice")
    await data_layer.delete_step(step_id)
    thread = await data_layer.get_thread(thread_id)
    assert thread is not None
    assert thread["steps"] == []
    assert thread["elements"] == []
    assert await count(data_layer, FeedbackRow) == 0
    assert list((data_layer.storage.base_dir).rglob("a.txt")) == []


async def test_favorites_are_listed_per_owner(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    bob = await make_user(data_layer, "bob")
    thread_id, step_id = await make_thread(data_layer, alice)
    thread = await data_layer.get_thread(thread_id)
    assert thread is not None
    await data_layer.set_step_favorite(thread["steps"][0], True)
    favorites = await data_layer.get_favorite_steps(alice.id)
    assert [s["id"] for s in favorites] == [step_id]
    assert favorites[0]["metadata"]["favorite"] is True
    assert await data_layer.get_favorite_steps(bob.id) == []


# -- listing ----------------------------------------------------------------------------------


async def test_list_threads_paginates_searches_and_filters_in_sql(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice")
    bob = await make_user(data_layer, "bob")
    ids = []
    for i in range(7):
        thread_id, _ = await make_thread(
            data_layer,
            alice,
            name=f"Topic {i}",
            text=f"body {i} about 100%_done" if i == 3 else f"body {i}",
        )
        ids.append(thread_id)
    await make_thread(data_layer, bob, name="Topic bob", text="body bob")
    newest_first = list(reversed(ids))

    async def page(cursor: str | None, **filters: Any) -> tuple[list[str], Any]:
        result = await data_layer.list_threads(
            Pagination(first=3, cursor=cursor), ThreadFilter(userId=alice.id, **filters)
        )
        return [t["id"] for t in result.data], result.pageInfo

    first, info = await page(None)
    assert first == newest_first[:3]
    assert info.hasNextPage
    # Activity on a listed thread moves it to the top; the cursor still continues where it was.
    await data_layer.update_thread(first[0], name="Topic 6 renamed")
    second, info = await page(info.endCursor)
    assert second == newest_first[3:6]
    assert info.hasNextPage
    third, info = await page(info.endCursor)
    assert third == newest_first[6:]
    assert not info.hasNextPage

    assert (await page(None, search="topic 4"))[0] == [ids[4]]
    assert (await page(None, search="BODY 2"))[0] == [ids[2]]
    assert (await page(None, search="100%_"))[0] == [ids[3]]
    assert (await page(None, search="%"))[0] == [ids[3]]
    assert (await page(None, search="bob"))[0] == []

    thread = await data_layer.get_thread(ids[5])
    assert thread is not None
    await data_layer.upsert_feedback(
        Feedback(forId=thread["steps"][0]["id"], value=0), as_user="alice"
    )
    assert (await page(None, feedback=0))[0] == [ids[5]]
    assert (await page(None, feedback=1))[0] == []

    with acting_as("bob"):
        assert (await page(None))[0] == []


# -- elements ---------------------------------------------------------------------------------


async def test_elements_store_real_bytes_and_come_back(
    data_layer: CadreDataLayer, tmp_path: Path
) -> None:
    alice = await make_user(data_layer, "alice")
    thread_id, step_id = await make_thread(data_layer, alice)
    pdf_bytes = b"%PDF-1.4\n" + bytes(range(256)) * 8
    image_path = tmp_path / "pic.png"
    image_path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    common = {"thread_id": thread_id, "for_id": step_id}
    elements = [
        cl.Text(name="notes.txt", content="héllo text", language="markdown", **common),
        cl.Pdf(name="report.pdf", content=pdf_bytes, page=2, display="side", **common),
        cl.Image(name="pic.png", path=str(image_path), mime="image/png", **common),
        cl.Audio(name="a.mp3", content=b"ID3audio", auto_play=True, mime="audio/mpeg", **common),
        cl.Video(name="v.mp4", content=b"vid", player_config={"loop": True}, **common),
        cl.CustomElement(name="Widget", props={"rows": [1, 2], "ok": True}, **common),
    ]
    for element in elements:
        await data_layer.create_element(element)

    thread = await data_layer.get_thread(thread_id)
    assert thread is not None
    assert thread["elements"] is not None
    stored = {e["id"]: e for e in thread["elements"]}
    expected_bytes = [b"h\xc3\xa9llo text", pdf_bytes, image_path.read_bytes(), b"ID3audio", b"vid"]
    for element, data in zip(elements, expected_bytes, strict=False):
        got = stored[element.id]
        assert got["url"] == f"/storage/{got['objectKey']}"
        assert await data_layer.storage.read_file(str(got["objectKey"])) == data
    text, pdf, image, audio, video, custom = (stored[e.id] for e in elements)
    assert (text["type"], text["language"], text["forId"], text["props"]) == (
        "text",
        "markdown",
        step_id,
        {},
    )
    assert (pdf["page"], pdf["display"], pdf["mime"]) == (2, "side", "application/pdf")
    assert image["size"] == "medium"
    assert audio["autoPlay"] is True
    assert video["playerConfig"] == {"loop": True}
    assert custom["props"] == {"rows": [1, 2], "ok": True}

    one = await data_layer.get_element(thread_id, elements[1].id)
    assert one is not None
    assert one["name"] == "report.pdf"
    assert one["props"] == {}
    assert await data_layer.get_element("other-thread", elements[1].id) is None

    await data_layer.delete_element(elements[1].id, thread_id)
    assert await data_layer.get_element(thread_id, elements[1].id) is None
    with pytest.raises(FileNotFoundError):
        await data_layer.storage.read_file(str(pdf["objectKey"]))


async def test_url_only_elements_are_refused_never_fetched(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    thread_id, step_id = await make_thread(data_layer, alice)
    for url in ("http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"):
        image = cl.Image(name="x.png", url=url, thread_id=thread_id, for_id=step_id)
        with pytest.raises(RemoteElementError):
            await data_layer.create_element(image)
    assert await count(data_layer, Element) == 0


async def test_element_paths_outside_cadres_folders_are_never_read(
    data_layer: CadreDataLayer, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    alice = await make_user(data_layer, "alice")
    thread_id, step_id = await make_thread(data_layer, alice)
    secret = tmp_path_factory.mktemp("elsewhere") / "server-secret.txt"
    secret.write_text("SERVER-SECRET")
    link = tmp_path / "innocent.txt"  # inside the data folder, pointing out of it
    link.symlink_to(secret)
    common = {"thread_id": thread_id, "for_id": step_id}
    for path in (secret, link, tmp_path / ".." / secret.parent.name / secret.name):
        with pytest.raises(ElementPathError):
            await data_layer.create_element(cl.File(name="x.txt", path=str(path), **common))
    assert await count(data_layer, Element) == 0
    kept = tmp_path / "documents" / "report.txt"  # where Cadre keeps originals
    kept.parent.mkdir()
    kept.write_text("report")
    await data_layer.create_element(cl.File(name="report.txt", path=str(kept), **common))
    assert await count(data_layer, Element) == 1


async def test_another_users_elements_and_steps_are_out_of_reach(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice")
    await make_user(data_layer, "bob")
    thread_id, step_id = await make_thread(data_layer, alice, text="secret")
    text = cl.Text(name="s.txt", content="secret", thread_id=thread_id, for_id=step_id)
    await data_layer.create_element(text)

    with acting_as("bob"):
        assert await data_layer.get_element(thread_id, text.id) is None
        with pytest.raises(NotFoundError):
            await data_layer.delete_element(text.id, thread_id)
        with pytest.raises(NotFoundError):
            await data_layer.delete_step(step_id)
        hijack = cl.Message(content="injected", type="assistant_message", id=step_id)
        hijack.thread_id = thread_id
        with pytest.raises(NotFoundError):
            await data_layer.update_step(hijack.to_dict())
        overwrite = cl.Text(name="s.txt", content="pwned", thread_id=thread_id, id=text.id)
        with pytest.raises(NotFoundError):
            await data_layer.create_element(overwrite)

    thread = await data_layer.get_thread(thread_id)
    assert thread is not None
    assert thread["steps"][0]["output"] == "secret"
    assert thread["elements"] is not None
    assert await data_layer.storage.read_file(str(thread["elements"][0]["objectKey"])) == b"secret"


# -- feedback ---------------------------------------------------------------------------------


async def test_feedback_only_on_your_own_threads(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    await make_user(data_layer, "bob")
    thread_id, step_id = await make_thread(data_layer, alice)
    _, bobs_step = await make_thread(data_layer, await make_user(data_layer, "carol"))

    with pytest.raises(NotFoundError):
        await data_layer.upsert_feedback(Feedback(forId=step_id, value=1), as_user="bob")
    with pytest.raises(NotFoundError):
        await data_layer.upsert_feedback(Feedback(forId=step_id, value=1))  # nobody logged in
    with pytest.raises(NotFoundError):  # the thread id is taken from the step, not the client
        await data_layer.upsert_feedback(
            Feedback(forId=step_id, value=1, threadId="another"), as_user="alice"
        )
    assert await count(data_layer, FeedbackRow) == 0

    feedback_id = await data_layer.upsert_feedback(
        Feedback(forId=step_id, value=1, comment="good"), as_user="alice"
    )
    with acting_as("alice"):
        same = await data_layer.upsert_feedback(
            Feedback(forId=step_id, value=0, comment="changed my mind", id=feedback_id)
        )
    assert same == feedback_id
    thread = await data_layer.get_thread(thread_id)
    assert thread is not None
    assert thread["steps"][0]["feedback"] == {
        "id": feedback_id,
        "forId": step_id,
        "value": 0,
        "comment": "changed my mind",
    }

    carols = await data_layer.upsert_feedback(Feedback(forId=bobs_step, value=1), as_user="carol")
    with pytest.raises(NotFoundError):  # reusing someone else's feedback id
        await data_layer.upsert_feedback(
            Feedback(forId=step_id, value=1, id=carols), as_user="alice"
        )
    with pytest.raises(NotFoundError):
        await data_layer.delete_feedback(feedback_id, as_user="bob")
    assert await count(data_layer, FeedbackRow) == 2
    assert await data_layer.delete_feedback(feedback_id, as_user="alice") is True
    assert await count(data_layer, FeedbackRow) == 1


# -- deletion ---------------------------------------------------------------------------------


async def test_delete_thread_removes_everything_it_owns(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    thread_id, step_id = await make_thread(data_layer, alice)
    keep_id, _ = await make_thread(data_layer, alice, name="keep")
    await data_layer.create_element(
        cl.File(name="f.bin", content=b"\x00\x01", thread_id=thread_id, for_id=step_id)
    )
    await data_layer.upsert_feedback(Feedback(forId=step_id, value=1), as_user="alice")
    with acting_as("alice"):
        await data_layer.delete_thread(thread_id)

    assert await data_layer.get_thread(thread_id) is None
    assert await count(data_layer, Step) == 1
    assert await count(data_layer, Element) == 0
    assert await count(data_layer, FeedbackRow) == 0
    assert [p for p in data_layer.storage.base_dir.rglob("*") if p.is_file()] == []
    assert await data_layer.get_thread(keep_id) is not None
    with pytest.raises(NotFoundError):
        await data_layer.delete_thread(thread_id)


# -- Chainlit session integration -------------------------------------------------------------


def _chat_session(thread_id: str, user: cl.PersistedUser) -> WebsocketSession:
    """A browser's chat session with `user` signed in; what it emits goes nowhere."""

    async def emit(*_: object) -> None:
        return None

    return WebsocketSession(
        id=str(uuid.uuid4()),
        socket_id=str(uuid.uuid4()),
        emit=emit,
        emit_call=emit,
        user_env={},
        client_type="webapp",
        thread_id=thread_id,
        user=user,
    )


async def test_writes_wait_for_the_first_user_message_then_are_all_kept(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice")
    thread_id = str(uuid.uuid4())
    session = _chat_session(thread_id, alice)
    try:
        init_ws_context(session)
        welcome = cl.Message(content="Welcome!", author="Chief of Staff")
        note = cl.Text(name="w.txt", content="attached", for_id=welcome.id)
        await data_layer.create_step(welcome.to_dict())
        await data_layer.create_element(note)
        # Nothing is written for a chat the user never speaks in.
        assert await data_layer.get_thread(thread_id) is None

        session.has_first_interaction = True
        await data_layer.update_thread(thread_id, name="first words", user_id=alice.id)
        await session.flush_method_queue()
        thread = await data_layer.get_thread(thread_id)
        assert thread is not None
        assert [s["output"] for s in thread["steps"]] == ["Welcome!"]
        assert thread["elements"] is not None
        assert [e["name"] for e in thread["elements"]] == ["w.txt"]
        # The session's user is the actor: its own thread is visible, others' are not.
        assert await data_layer.get_thread_author(thread_id) == "alice"
    finally:
        await session.delete()


async def test_acting_user_middleware_reads_the_chainlit_token(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice")
    await make_user(data_layer, "bob")
    thread_id, _ = await make_thread(data_layer, alice)
    api = FastAPI()
    api.add_middleware(ActingUserMiddleware)

    @api.get("/author/{thread_id}")
    async def author(thread_id: str) -> dict[str, str | None]:
        return {"actor": acting_user.get(), "author": await data_layer.get_thread_author(thread_id)}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://test"
    ) as client:
        as_bob = {"Authorization": f"Bearer {create_jwt(cl.User(identifier='bob'))}"}
        as_alice = {"access_token": create_jwt(cl.User(identifier="alice"))}
        forged = {
            "Authorization": "Bearer " + jwt.encode({"identifier": "alice"}, "another-key-" * 4)
        }
        assert (await client.get(f"/author/{thread_id}", headers=as_bob)).json() == {
            "actor": "bob",
            "author": "",
        }
        client.cookies.update(as_alice)
        assert (await client.get(f"/author/{thread_id}")).json() == {
            "actor": "alice",
            "author": "alice",
        }
        client.cookies.clear()
        assert (await client.get(f"/author/{thread_id}", headers=forged)).json() == {
            "actor": None,
            "author": "alice",
        }


# -- domain tables ----------------------------------------------------------------------------


async def test_domain_tables_take_rows_and_follow_their_owners(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice", role="admin")
    thread_id, _ = await make_thread(data_layer, alice)
    async with data_layer.writing() as session:
        session.add_all(
            [
                AgentRecord(
                    id=str(uuid.uuid4()),
                    name="Lawyer",
                    description="Reads contracts",
                    instructions="Be precise.",
                    tools=["search"],
                    limits={"max_turns": 4},
                    created_by=alice.id,
                ),
                DocumentRow(
                    id=str(uuid.uuid4()),
                    owner_id=alice.id,
                    thread_id=thread_id,
                    name="contract.pdf",
                    content_hash="ab" * 32,
                    status="ready",
                    pages=3,
                    chunks=12,
                ),
                TaskRecord(
                    id=uuid.uuid4().hex,
                    thread_id=thread_id,
                    user_id=alice.id,
                    turn_id="run-1",
                    operator="Researcher",
                    title="find it",
                    status="done",
                ),
                UsageRecord(user_id=alice.id, thread_id=thread_id, model="local:smollm2"),
                ApiKey(
                    id=str(uuid.uuid4()),
                    user_id=alice.id,
                    name="laptop",
                    prefix="cad_1234",
                    key_hash="x",
                ),
            ]
        )
    async with data_layer.reading() as session:
        agent = await session.scalar(select(AgentRecord))
        assert agent is not None
        assert (agent.tools, agent.limits, agent.enabled) == (["search"], {"max_turns": 4}, True)

    with acting_as("alice"):
        await data_layer.delete_thread(thread_id)
    # Usage outlives the thread; delegation records go with it; documents stay the user's.
    async with data_layer.reading() as session:
        usage = await session.scalar(select(UsageRecord))
        document = await session.scalar(select(DocumentRow))
        assert usage is not None
        assert usage.thread_id is None
        assert document is not None
        assert document.thread_id is None
    assert await count(data_layer, TaskRecord) == 0

    async with data_layer.writing() as session:
        await session.execute(delete(User).where(User.id == alice.id))
    assert await count(data_layer, DocumentRow) == 0
    assert await count(data_layer, ApiKey) == 0
    assert await count(data_layer, UsageRecord) == 1
    assert await count(data_layer, AgentRecord) == 1


async def test_a_steps_updates_are_stored_in_the_order_they_were_made(
    data_layer: CadreDataLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chainlit stores each update of a step in a task of its own and never awaits it; a
    # progress step updated in quick succession must end stored as it was last shown.
    # `chainlit.step` is also the name of a decorator: reach the module itself.
    monkeypatch.setattr(sys.modules["chainlit.step"], "get_data_layer", lambda: data_layer)
    alice = await make_user(data_layer, "alice")
    thread_id = str(uuid.uuid4())
    session = _chat_session(thread_id, alice)
    try:
        init_ws_context(session)
        session.has_first_interaction = True
        await data_layer.update_thread(thread_id, name="files", user_id=alice.id)
        step = cl.Step(name="Reading your files", type="tool")
        await step.send()
        for n in range(40):
            step.output = f"progress {n}"
            await step.update()
        step.name, step.output = "Read 1 of 1 file", "✅ ready"
        await step.update()
        await settle_writes(session.id)
        thread = await data_layer.get_thread(thread_id)
        assert thread is not None
        [stored] = [s for s in thread["steps"] if s["id"] == step.id]
        assert (stored["name"], stored["output"]) == ("Read 1 of 1 file", "✅ ready")
    finally:
        await session.delete()
