"""The SQL task store and document catalog, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import chainlit as cl
import pytest

from agents.models.base import Usage
from agents.tasks import Task
from app.db import PersistenceError
from app.db.chainlit_data.layer import CadreDataLayer
from app.db.stores import SqlDocumentCatalog, SqlTaskStore
from knowledge.catalog import DocumentRecord, DocumentStatus

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


async def make_user(layer: CadreDataLayer, name: str) -> str:
    """A stored user; returns its users.id, which is what the stores call the owner."""
    user = await layer.create_user(cl.User(identifier=name))
    assert user is not None
    return user.id


def doc(owner: str, name: str, **fields: Any) -> DocumentRecord:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return replace(DocumentRecord(owner, digest, name, DocumentStatus.QUEUED), **fields)


# -- tasks ------------------------------------------------------------------------------------


async def test_a_task_reads_back_exactly_as_saved(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    store = SqlTaskStore(data_layer, user_id=alice)
    finished = Task(
        id=uuid.uuid4().hex,
        turn_id=uuid.uuid4().hex,
        operator="Analyst",
        title="Totals per quarter",
        instructions="Sum the Q1–Q4 figures in « sales.csv »",
        priority="high",
        status="done",
        result="Q1 12, Q2 15\nTotal: 27",
        run_id=uuid.uuid4().hex,
        created_at=1764400000.123456789,
        started_at=1764400000.5000001,
        finished_at=1764400003.25,
        usage=Usage(input_tokens=1234, output_tokens=56),
    )
    planned = Task.create(finished.turn_id, "Writer", "Draft the email", priority="low")

    await store.save(finished)
    await store.save(planned)

    assert await store.get(finished.id) == finished
    stored = await store.get(planned.id)
    assert stored == planned
    assert stored is not None
    assert stored.run_id is None
    assert stored.status == "pending"
    assert await store.get(uuid.uuid4().hex) is None


async def test_saving_again_moves_a_task_through_its_statuses(data_layer: CadreDataLayer) -> None:
    store = SqlTaskStore(data_layer)
    turn = uuid.uuid4().hex
    task = Task.create(turn, "Researcher", "Find the deadlines", priority="normal")
    await store.save(task)
    assert await store.get(task.id) == task

    running = task.start(run_id="op-run-1", instructions="List every deadline in the contract")
    await store.save(running)
    stored = await store.get(task.id)
    assert stored == running
    assert stored is not None
    assert (stored.status, stored.run_id, stored.finished_at) == ("running", "op-run-1", None)

    done = running.finish("done", "March 3 and April 9", Usage(300, 40))
    await store.save(done)
    assert await store.get(task.id) == done

    failed = Task.create(turn, "Analyst", "Compute").start("op-run-2", "x").finish("failed", "boom")
    cancelled = Task.create(turn, "Writer", "Write").finish("cancelled", None)
    await store.save(failed)
    await store.save(cancelled)
    statuses = {t.id: t.status for t in await store.for_turn(turn)}
    assert statuses == {task.id: "done", failed.id: "failed", cancelled.id: "cancelled"}


async def test_for_turn_lists_one_turn_oldest_first(data_layer: CadreDataLayer) -> None:
    store = SqlTaskStore(data_layer)
    turn, other = uuid.uuid4().hex, uuid.uuid4().hex
    times = [1000.3, 1000.1, 1000.2, 999.9]
    tasks = [
        Task(uuid.uuid4().hex, turn, "Writer", f"t{i}", created_at=t) for i, t in enumerate(times)
    ]
    for task in tasks:
        await store.save(task)
    await store.save(Task(uuid.uuid4().hex, other, "Writer", "elsewhere", created_at=1000.0))

    listed = await store.for_turn(turn)

    assert [t.title for t in listed] == ["t3", "t1", "t2", "t0"]
    assert [t.title for t in await store.for_turn(other)] == ["elsewhere"]
    assert await store.for_turn(uuid.uuid4().hex) == []


async def test_tasks_belong_to_their_conversation_and_person(data_layer: CadreDataLayer) -> None:
    alice, bob = await make_user(data_layer, "alice"), await make_user(data_layer, "bob")
    thread_id = str(uuid.uuid4())
    # The task may be saved before Chainlit has written the thread row.
    mine = SqlTaskStore(data_layer, thread_id=thread_id, user_id=alice)
    task = Task.create(uuid.uuid4().hex, "Writer", "Summarise")
    await mine.save(task)
    await data_layer.update_thread(thread_id, name="Contracts", user_id=alice)

    theirs = SqlTaskStore(data_layer, user_id=bob)
    assert await theirs.get(task.id) is None
    assert await theirs.for_turn(task.turn_id) == []
    assert await SqlTaskStore(data_layer).get(task.id) == task

    await data_layer.delete_thread(thread_id)
    assert await mine.get(task.id) is None  # the conversation's tasks go with it


async def test_a_task_for_an_unknown_user_is_refused(data_layer: CadreDataLayer) -> None:
    store = SqlTaskStore(data_layer, user_id=str(uuid.uuid4()))
    with pytest.raises(PersistenceError, match="does not exist"):
        await store.save(Task.create(uuid.uuid4().hex, "Writer", "Draft"))


# -- documents --------------------------------------------------------------------------------


async def test_a_document_record_reads_back_exactly(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    catalog = SqlDocumentCatalog(data_layer)
    ready = doc(alice, "contract.pdf").moved_to(
        DocumentStatus.READY, size_bytes=48_213, kind="pdf", pages=7, chunks=31
    )
    ready = replace(ready, created_at=T0, updated_at=T0 + timedelta(seconds=3))
    failed = doc(alice, "secret.pdf", created_at=T0, updated_at=T0).moved_to(
        DocumentStatus.FAILED, size_bytes=900, reason="The PDF is encrypted.", code="encrypted"
    )

    await catalog.put(ready)
    await catalog.put(failed)

    assert await catalog.get(alice, ready.document_id) == ready
    assert await catalog.get(alice, failed.document_id) == failed
    assert await catalog.get(alice, "0" * 64) is None


async def test_put_updates_the_same_document_in_place(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    catalog = SqlDocumentCatalog(data_layer)
    queued = doc(alice, "notes.md", size_bytes=10)
    await catalog.put(queued)
    first = await catalog.get(alice, queued.document_id)
    assert first is not None
    assert first.created_at is not None
    assert first.updated_at is not None

    await catalog.put(queued.moved_to(DocumentStatus.PROCESSING, pages=2))
    await catalog.put(queued.moved_to(DocumentStatus.READY, pages=2, chunks=5, kind="markdown"))

    (only,) = await catalog.list_documents(alice)
    assert (only.status, only.pages, only.chunks, only.kind) == ("ready", 2, 5, "markdown")
    assert only.created_at == first.created_at  # the first upload's time is kept
    assert only.updated_at is not None
    assert only.updated_at >= first.updated_at


async def test_add_never_writes_over_a_record_already_there(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice")
    catalog = SqlDocumentCatalog(data_layer)
    queued = doc(alice, "notes.md", size_bytes=10)
    failed = queued.moved_to(DocumentStatus.FAILED, reason="The disk is full.", code="disk_full")
    assert await catalog.add(failed)
    stored = await catalog.get(alice, queued.document_id)
    assert stored is not None
    assert (stored.status, stored.code) == ("failed", "disk_full")

    # A new upload of the same file wrote its record: a late failure of the old one stays out.
    await catalog.put(queued)
    assert not await catalog.add(failed)
    (only,) = await catalog.list_documents(alice)
    assert (only.status, only.code) == ("queued", None)


async def test_each_owner_lists_only_their_documents_newest_first(
    data_layer: CadreDataLayer,
) -> None:
    alice, bob = await make_user(data_layer, "alice"), await make_user(data_layer, "bob")
    catalog = SqlDocumentCatalog(data_layer)
    for minutes, name in [(1, "old.pdf"), (3, "new.pdf"), (2, "middle.pdf")]:
        await catalog.put(doc(alice, name, created_at=T0 + timedelta(minutes=minutes)))
    await catalog.put(doc(bob, "new.pdf", created_at=T0))  # same file, separate record
    await catalog.put(doc(bob, "bob.txt", created_at=T0 + timedelta(minutes=9)))

    assert [d.name for d in await catalog.list_documents(alice)] == [
        "new.pdf",
        "middle.pdf",
        "old.pdf",
    ]
    assert [d.name for d in await catalog.list_documents(bob)] == ["bob.txt", "new.pdf"]
    old_id = doc(alice, "old.pdf").document_id
    assert await catalog.get(bob, old_id) is None
    assert await catalog.remove(bob, old_id) is False
    assert await catalog.get(alice, old_id) is not None
    assert await catalog.list_documents(str(uuid.uuid4())) == []


async def test_remove_deletes_one_record_once(data_layer: CadreDataLayer) -> None:
    alice, bob = await make_user(data_layer, "alice"), await make_user(data_layer, "bob")
    catalog = SqlDocumentCatalog(data_layer)
    await catalog.put(doc(alice, "a.txt"))
    await catalog.put(doc(alice, "b.txt"))
    await catalog.put(doc(bob, "a.txt"))
    gone = doc(alice, "a.txt").document_id

    assert await catalog.remove(alice, gone) is True
    assert await catalog.remove(alice, gone) is False
    assert await catalog.get(alice, gone) is None
    assert [d.name for d in await catalog.list_documents(alice)] == ["b.txt"]
    assert await catalog.get(bob, gone) is not None  # bob's copy of the same file stays


async def test_unfinished_finds_waiting_documents_of_every_owner(
    data_layer: CadreDataLayer,
) -> None:
    alice, bob = await make_user(data_layer, "alice"), await make_user(data_layer, "bob")
    catalog = SqlDocumentCatalog(data_layer)
    await catalog.put(doc(alice, "queued.pdf"))
    await catalog.put(doc(bob, "busy.pdf").moved_to(DocumentStatus.PROCESSING))
    await catalog.put(doc(alice, "done.pdf").moved_to(DocumentStatus.READY, chunks=3))
    await catalog.put(
        doc(bob, "bad.pdf").moved_to(DocumentStatus.FAILED, reason="Empty.", code="empty")
    )

    waiting = {(d.owner, d.name, d.status) for d in await catalog.unfinished()}

    assert waiting == {(alice, "queued.pdf", "queued"), (bob, "busy.pdf", "processing")}


async def test_leases_are_renewed_by_their_ingestion_and_settled_only_once_run_out(
    data_layer: CadreDataLayer,
) -> None:
    alice = await make_user(data_layer, "alice")
    catalog = SqlDocumentCatalog(data_layer)
    now = time.time()
    live = doc(alice, "live.pdf", ingestion_id="i-live", lease_holder="p1", lease_until=now + 60)
    dead = doc(alice, "dead.pdf", ingestion_id="i-dead", lease_holder="p2", lease_until=now - 1)
    for record in (live, dead):
        await catalog.put(record.moved_to(DocumentStatus.PROCESSING))

    # Renewal reaches the waiting records of those ingestions, and says which they are.
    assert await catalog.renew(["i-live", "i-gone"], now + 120) == {"i-live"}
    renewed = await catalog.get(alice, live.document_id)
    assert renewed is not None
    assert (renewed.ingestion_id, renewed.lease_holder, renewed.lease_until) == (
        "i-live",
        "p1",
        now + 120,
    )

    # Settling writes over a record whose lease ran out, once; never over a live one.
    failed = {"reason": "Interrupted.", "code": "interrupted"}
    assert not await catalog.settle(live.moved_to(DocumentStatus.FAILED, **failed), now)
    assert await catalog.settle(dead.moved_to(DocumentStatus.FAILED, **failed), now)
    assert not await catalog.settle(dead.moved_to(DocumentStatus.FAILED, **failed), now)
    settled = await catalog.get(alice, dead.document_id)
    assert settled is not None
    assert (settled.status, settled.code, settled.ingestion_id, settled.lease_until) == (
        DocumentStatus.FAILED,
        "interrupted",
        None,
        None,
    )
    assert await catalog.renew(["i-dead"], now + 120) == set()  # its process lost it
    # Another ingestion's record (a new upload of the same file) is not settled either.
    other = replace(live, ingestion_id="i-other")
    assert not await catalog.settle(other.moved_to(DocumentStatus.FAILED, **failed), None)
    # Without an expiry bound (this process's own stopped ingestion), the lease is ignored.
    assert await catalog.settle(live.moved_to(DocumentStatus.READY, chunks=4), None)
    ready = await catalog.get(alice, live.document_id)
    assert ready is not None
    assert (ready.status, ready.chunks, ready.lease_holder) == (DocumentStatus.READY, 4, None)
    assert await catalog.unfinished() == []


async def test_concurrent_puts_lose_nothing(data_layer: CadreDataLayer) -> None:
    alice = await make_user(data_layer, "alice")
    catalog = SqlDocumentCatalog(data_layer)
    names = [f"file-{i}.txt" for i in range(20)]
    await asyncio.gather(*(catalog.put(doc(alice, n, size_bytes=i)) for i, n in enumerate(names)))
    same = doc(alice, "same.txt")
    await asyncio.gather(*(catalog.put(same.moved_to(same.status, chunks=i)) for i in range(8)))

    listed = await catalog.list_documents(alice)

    assert sorted(d.name for d in listed) == sorted([*names, "same.txt"])
    assert {d.name: d.size_bytes for d in listed if d.name != "same.txt"} == {
        n: i for i, n in enumerate(names)
    }


async def test_a_document_of_an_unknown_owner_is_refused(data_layer: CadreDataLayer) -> None:
    catalog = SqlDocumentCatalog(data_layer)
    with pytest.raises(PersistenceError, match="create the user first"):
        await catalog.put(doc("alice", "a.txt"))  # an identifier, not a users.id


async def test_nul_characters_never_break_a_backend(data_layer: CadreDataLayer) -> None:
    # PostgreSQL refuses NUL in text; a crafted file name or a model's tool call may hold one.
    alice = await make_user(data_layer, "alice")
    catalog = SqlDocumentCatalog(data_layer)
    record = doc(alice, "bad\x00name.txt")
    await catalog.put(record)

    stored = await catalog.get(alice, record.document_id)
    assert stored is not None
    assert stored.name == "bad\ufffdname.txt"
    assert await catalog.get(alice, "ab\x00cd") is None
    assert await catalog.remove(alice, "ab\x00cd") is False
    assert await SqlTaskStore(data_layer).get("ab\x00cd") is None
