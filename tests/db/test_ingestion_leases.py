"""Ingestion leases with two processes on one database (SQLite and PostgreSQL) and one LanceDB
folder: a process that starts while another is half-way through a file leaves that file alone
(it finishes ready, its passages stored once); a process killed half-way has its file failed
as interrupted, and its staged chunks removed, by the next start (on the same machine a
holder that ended is known to be gone); a hung one once its lease has run out, and when it
wakes it stores nothing.

The other process is a real one (tests/db/ingester.py): it opens the knowledge base as the
server does and holds its file half-way, first chunks staged, until the test lets it go on
or kills it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import chainlit as cl
import pytest

from app.db.chainlit_data.layer import CadreDataLayer
from app.db.stores import SqlDocumentCatalog
from knowledge.base import INTERRUPTED, KnowledgeBase, Recovery
from knowledge.catalog import DocumentRecord, DocumentStatus
from knowledge.embedder import HashEmbedder
from knowledge.leases import LeaseOptions
from tests.db.ingester import PAGES
from tests.knowledge.retrieval_helpers import paged_text

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Ingester:
    """The other process, stopped half-way through its file."""

    process: asyncio.subprocess.Process
    gate: Path

    async def line(self) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout=120)
        if not raw:
            assert self.process.stderr is not None
            error = (await self.process.stderr.read()).decode()[-3000:]
            raise AssertionError(f"the ingesting process ended early:\n{error}")
        return raw.decode().strip()


@pytest.fixture
async def owner(data_layer: CadreDataLayer) -> str:
    user = await data_layer.create_user(cl.User(identifier="alice"))
    assert user is not None
    return str(user.id)


async def start_ingester(
    db_url: str, tmp_path: Path, owner: str, lease: LeaseOptions
) -> AsyncIterator[Ingester]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("ingester.py")),
        db_url,
        str(tmp_path / "files"),
        str(tmp_path / "knowledge"),
        owner,
        str(tmp_path / "go"),
        str(lease.lease_s),
        str(lease.renew_s),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ingester = Ingester(process, tmp_path / "go")
    try:
        assert await ingester.line() == "staged"
        yield ingester
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def open_base(
    tmp_path: Path, layer: CadreDataLayer, lease: LeaseOptions | None = None
) -> KnowledgeBase:
    """This process's knowledge base, opened as the server opens it at start."""
    return await KnowledgeBase.open(
        tmp_path / "knowledge",
        HashEmbedder(64),
        SqlDocumentCatalog(layer),
        parser=paged_text,
        lease_options=lease,
    )


async def the_record(layer: CadreDataLayer, owner: str) -> DocumentRecord:
    [record] = await SqlDocumentCatalog(layer).list_documents(owner)
    return record


async def test_a_starting_process_leaves_another_ones_ingestion_alone(
    db_url: str, data_layer: CadreDataLayer, owner: str, tmp_path: Path
) -> None:
    # The ingesting process renews every 0.3 s a lease of 3 s: were a renewal missed or a
    # live lease ignored, the sweeps below would fail its file within seconds.
    lease = LeaseOptions(lease_s=3.0, renew_s=0.3)
    async for ingester in start_ingester(db_url, tmp_path, owner, lease):
        half_way = await the_record(data_layer, owner)
        assert half_way.status is DocumentStatus.PROCESSING
        base = await open_base(tmp_path, data_layer, lease)
        try:
            staged = base.store.staged_count()
            assert staged > 0
            # Several of this process's sweeps and leases go by while the other renews.
            for _ in range(3):
                await asyncio.sleep(lease.lease_s)
                assert await base.recover() == Recovery(0, 0, running=1)
            record = await the_record(data_layer, owner)
            assert record.status is DocumentStatus.PROCESSING
            assert record.ingestion_id == half_way.ingestion_id
            assert base.store.staged_count() == staged

            ingester.gate.touch()
            outcome = await ingester.line()
            assert outcome.startswith("done "), outcome
            _, document_id, chunks = outcome.split()
            assert await ingester.process.wait() == 0

            record = await the_record(data_layer, owner)
            assert (record.status, record.document_id, record.chunks) == (
                DocumentStatus.READY,
                document_id,
                int(chunks),
            )
            assert record.ingestion_id is None
            assert record.lease_until is None
            # Its passages are stored once: every chunk, no copy, nothing left staged.
            await asyncio.sleep(1.5)  # LanceDB shows another process's writes within a second
            passages = await base.read_document(owner, document_id)
            assert [p.chunk_index for p in passages] == list(range(int(chunks)))
            assert len(passages) == len(PAGES)
            assert int(chunks) == len(PAGES)
            hits = await base.search("hardware budget forty thousand euros", owner, k=10)
            assert [h.chunk_index for h in hits].count(1) == 1
            assert hits[0].document_id == document_id
            assert "forty thousand" in hits[0].text
            assert base.store.staged_count() == 0
            assert await base.recover() == Recovery(0, 0, 0)
        finally:
            await base.close()


async def test_a_process_killed_mid_ingestion_is_recovered_by_the_next_start(
    db_url: str, data_layer: CadreDataLayer, owner: str, tmp_path: Path
) -> None:
    # A lease far longer than the test: on one machine, an ended holder is known to be gone.
    lease = LeaseOptions(lease_s=600.0, renew_s=0.5)
    async for ingester in start_ingester(db_url, tmp_path, owner, lease):
        ingester.process.send_signal(signal.SIGKILL)  # no clean-up of any kind
        await ingester.process.wait()

    restarted = await open_base(tmp_path, data_layer)
    try:
        await assert_interrupted(restarted, data_layer, owner)
    finally:
        await restarted.close()


async def test_a_hung_process_s_file_is_recovered_once_its_lease_runs_out(
    db_url: str, data_layer: CadreDataLayer, owner: str, tmp_path: Path
) -> None:
    # Renewed every 0.5 s, a 20 s lease has well over 15 s left when the next process opens.
    lease = LeaseOptions(lease_s=20.0, renew_s=0.5)
    async for ingester in start_ingester(db_url, tmp_path, owner, lease):
        ingester.process.send_signal(signal.SIGSTOP)  # alive, but renewing nothing
        try:
            # A process starting within the lease leaves the file alone.
            early = await open_base(tmp_path, data_layer)
            try:
                assert early.store.staged_count() > 0
                record = await the_record(data_layer, owner)
                assert record.status is DocumentStatus.PROCESSING
                assert record.lease_until is not None
                assert record.lease_until > time.time()
            finally:
                await early.close()

            # The next start after the lease ran out recovers it.
            await asyncio.sleep(max(0.0, record.lease_until - time.time()) + 0.5)
            later = await open_base(tmp_path, data_layer)
            try:
                await assert_interrupted(later, data_layer, owner)
            finally:
                await later.close()
        finally:
            ingester.process.send_signal(signal.SIGCONT)

        # The hung process wakes up: it finds its claim gone and stores nothing.
        ingester.gate.touch()
        assert await ingester.line() == "failed taken_over"
        assert await ingester.process.wait() == 0
        await asyncio.sleep(1.5)  # LanceDB shows another process's writes within a second
        final = await open_base(tmp_path, data_layer)
        try:
            await assert_interrupted(final, data_layer, owner)
        finally:
            await final.close()


async def assert_interrupted(base: KnowledgeBase, layer: CadreDataLayer, owner: str) -> None:
    """The file is failed as interrupted, nothing of it is stored or staged."""
    record = await the_record(layer, owner)
    assert (record.status, record.code, record.reason) == (
        DocumentStatus.FAILED,
        "interrupted",
        INTERRUPTED,
    )
    assert record.ingestion_id is None
    assert record.lease_until is None
    assert base.store.staged_count() == 0
    assert base.store.count() == 0
    assert await base.search("forty thousand euros", owner, k=5, mode="text") == []
    assert await base.recover() == Recovery(0, 0, 0)
