"""The ingestion pipeline: progress events, independent failures, crashes and recovery."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from knowledge.base import INTERRUPTED, KnowledgeBase
from knowledge.catalog import DocumentRecord, DocumentStatus, InMemoryCatalog
from knowledge.embedder import (
    HashEmbedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    Vectors,
    bundled_minilm,
)
from knowledge.errors import EncryptedDocument
from knowledge.ingest import (
    IngestDone,
    IngestEvent,
    IngestFailed,
    IngestOptions,
    IngestProgress,
    Upload,
)
from knowledge.parsing.limits import ParseLimits
from tests.knowledge.retrieval_helpers import ingest_ok, open_base, paged_text, store_of, upload

REPO = Path(__file__).resolve().parents[2]
PAGES = [
    f"# Chapter {n}\n" + f"Paragraph about topic {n} and its details. " * 30 for n in range(1, 6)
]


class ExplodingEmbedder(HashEmbedder):
    """Fails while embedding any batch that holds `trigger` (a fault in the middle of a file)."""

    def __init__(self, trigger: str) -> None:
        super().__init__(64)
        self.trigger = trigger

    def embed(self, texts: Sequence[str]) -> Vectors:
        if any(self.trigger in t for t in texts):
            raise RuntimeError("embedding backend crashed")
        return super().embed(texts)


async def test_progress_events_walk_through_every_stage(tmp_path: Path) -> None:
    base = await open_base(tmp_path, batch_size=4)
    events: list[IngestEvent] = [
        e async for e in base.ingest([upload("book.pdf", *PAGES)], "alice")
    ]

    stages = [e.stage for e in events if isinstance(e, IngestProgress)]
    assert stages[0] == "queued"
    assert stages.index("parsing") < stages.index("chunking") < stages.index("embedding")
    assert stages[-1] == "storing"
    embedding = [e for e in events if isinstance(e, IngestProgress) and e.stage == "embedding"]
    counts = [e.chunks_embedded for e in embedding]
    assert counts == sorted(counts)
    assert counts[0] == 0
    assert counts[-1] == embedding[-1].total > 4  # several batches
    pages = [e.pages_done for e in embedding]
    assert pages == sorted(pages)
    assert pages[-1] == 5
    parsing_pages = [
        e.pages_done for e in events if isinstance(e, IngestProgress) and e.stage == "parsing"
    ]
    assert parsing_pages[-1] == 5
    done = events[-1]
    assert isinstance(done, IngestDone)
    assert (done.chunks, done.pages, done.duplicate) == (embedding[-1].total, 5, False)
    [record] = await base.list_documents("alice")
    assert (record.status, record.chunks, record.pages, record.name) == (
        DocumentStatus.READY,
        done.chunks,
        5,
        "book.pdf",
    )


async def test_one_bad_file_never_affects_the_others(tmp_path: Path) -> None:
    async def parser(path: Path, name: str, progress: object) -> object:
        if name == "locked.pdf":
            raise EncryptedDocument(name)
        return await paged_text(path, name, lambda done, total: None)

    base = await KnowledgeBase.open(
        tmp_path,
        HashEmbedder(64),
        parser=parser,  # type: ignore[arg-type]
        chunker=None,
        ingest_options=IngestOptions(batch_size=4, limits=ParseLimits(max_file_bytes=10_000)),
    )
    big = Upload("huge.pdf", b"x" * 10_001)
    files = [
        upload("good.pdf", *PAGES[:2]),
        upload("locked.pdf", "secret"),
        big,
        upload("empty.pdf", "   "),
        upload("also-good.pdf", "# Notes\nThe meeting moved to Thursday."),
    ]

    outcomes = await base.ingest_all(files, "alice")

    kinds = {o.document: (type(o).__name__, getattr(o, "code", None)) for o in outcomes}
    assert kinds == {
        "good.pdf": ("IngestDone", None),
        "locked.pdf": ("IngestFailed", "encrypted"),
        "huge.pdf": ("IngestFailed", "too_large"),
        "empty.pdf": ("IngestFailed", "empty"),
        "also-good.pdf": ("IngestDone", None),
    }
    failed = {o.document: o.reason for o in outcomes if isinstance(o, IngestFailed)}
    assert "password" in failed["locked.pdf"]
    assert "limit" in failed["huge.pdf"]
    records = {r.name: r for r in await base.list_documents("alice")}
    assert records["locked.pdf"].status is DocumentStatus.FAILED
    assert records["locked.pdf"].reason == failed["locked.pdf"]
    assert records["good.pdf"].status is DocumentStatus.READY
    hits = await base.search("meeting Thursday", "alice", k=3)
    assert hits[0].document_name == "also-good.pdf"
    assert base.store.staged_count() == 0


async def test_an_embedder_fault_mid_file_leaves_nothing_visible(tmp_path: Path) -> None:
    pages = [*PAGES[:3], "# Last\nKABOOM on the final page.", *PAGES[3:]]
    base = await open_base(tmp_path, ExplodingEmbedder("KABOOM"), batch_size=2)

    outcomes = await base.ingest_all(
        [upload("doomed.pdf", *pages), upload("fine.pdf", "# Fine\nA calm document.")], "alice"
    )

    doomed, fine = outcomes
    assert isinstance(doomed, IngestFailed)
    assert doomed.code == "internal"
    assert "internal error" in doomed.reason
    assert isinstance(fine, IngestDone)
    for mode in ("vector", "text", "hybrid"):
        hits = await base.search("Paragraph about topic details", "alice", k=20, mode=mode)  # type: ignore[arg-type]
        assert {h.document_name for h in hits} <= {"fine.pdf"}
    assert base.store.read_document("alice", doomed.document_id) == []
    assert base.store.staged_count() == 0


CRASHING_INGEST = textwrap.dedent(
    """
    import asyncio, os, sys
    from knowledge.embedder import HashEmbedder
    sys.path.insert(0, os.path.join("tests", "knowledge"))
    from retrieval_helpers import open_base, upload

    class DiesOnSecondBatch(HashEmbedder):
        calls = 0
        def embed(self, texts):
            DiesOnSecondBatch.calls += 1
            if DiesOnSecondBatch.calls == 2:
                os._exit(17)  # the process dies: no except, no finally, no cleanup
            return super().embed(texts)

    async def main():
        base = await open_base(sys.argv[1], DiesOnSecondBatch(64), batch_size=2)
        await base.ingest_all([upload("half.pdf", *sys.argv[2:])], "alice")

    asyncio.run(main())
    """
)


async def test_a_crash_between_batches_is_invisible_and_cleaned_at_next_start(
    tmp_path: Path,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASHING_INGEST,
        str(tmp_path),
        *PAGES,
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 17, stderr.decode()[-2000:]

    # After the crash: the half-written document is invisible to everyone...
    store = store_of(tmp_path)
    assert store.staged_count() == 2
    assert store.count() == 0
    assert store.text_search("alice", "Paragraph topic", 10) == []
    # ...and the next start removes its rows and fails its status record.
    catalog = InMemoryCatalog()
    await catalog.put(DocumentRecord("alice", "d1", "half.pdf", DocumentStatus.PROCESSING))
    base = await KnowledgeBase.open(tmp_path, HashEmbedder(64), catalog)
    assert base.store.staged_count() == 0
    [record] = await base.list_documents("alice")
    assert record.status is DocumentStatus.FAILED
    assert record.reason == INTERRUPTED
    # The user uploads it again and it works.
    await ingest_ok(await open_base(tmp_path), "alice", upload("half.pdf", *PAGES))


async def test_a_stop_between_the_store_commit_and_the_ready_record_ends_ready(
    tmp_path: Path,
) -> None:
    # The last moment a kill can land: every passage committed, the record still "processing".
    [done] = await ingest_ok(await open_base(tmp_path), "alice", upload("whole.pdf", *PAGES))
    catalog = InMemoryCatalog()
    await catalog.put(
        DocumentRecord("alice", done.document_id, "whole.pdf", DocumentStatus.PROCESSING)
    )
    base = await KnowledgeBase.open(tmp_path, HashEmbedder(64), catalog)
    [record] = await base.list_documents("alice")
    assert record.status is DocumentStatus.READY
    assert record.reason is None
    assert record.chunks == done.chunks
    assert await base.search("Paragraph topic", "alice", k=3)


async def test_stopping_the_consumer_cancels_and_cleans_up(tmp_path: Path) -> None:
    base = await open_base(tmp_path, batch_size=1)
    stream = base.ingest([upload("long.pdf", *PAGES)], "alice")
    async for event in stream:
        if (
            isinstance(event, IngestProgress)
            and event.stage == "embedding"
            and event.chunks_embedded >= 2
        ):
            break
    await stream.aclose()  # type: ignore[attr-defined]

    assert base.store.count() == 0
    assert base.store.staged_count() == 0
    [record] = await base.list_documents("alice")
    assert record.status is DocumentStatus.FAILED
    assert record.code == "cancelled"


async def test_a_file_on_disk_and_a_missing_file(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    on_disk = folder / "notes.pdf"
    on_disk.write_text("# Notes\nThe warehouse opens at seven.", encoding="utf-8")
    base = await open_base(tmp_path / "db")

    outcomes = await base.ingest_all([on_disk, folder / "missing.pdf"], "alice")

    assert isinstance(outcomes[0], IngestDone)
    assert isinstance(outcomes[1], IngestFailed)
    assert "could not be opened" in outcomes[1].reason


async def test_the_real_parser_runs_in_the_sandbox(tmp_path: Path) -> None:
    base = await KnowledgeBase.open(tmp_path, HashEmbedder(64))
    text = "# Opening hours\n\nThe library opens at nine and closes at five.\n"

    outcomes = await base.ingest_all([Upload("hours.md", text.encode())], "alice")

    assert isinstance(outcomes[0], IngestDone), outcomes
    [hit] = await base.search("when does the library open", "alice", k=1)
    assert "nine" in hit.text


@pytest.mark.slow
async def test_real_embedder_end_to_end(tmp_path: Path, model_cache: str) -> None:
    embedder = SentenceTransformerEmbedder(cache_dir=Path(model_cache) / "onnx")
    torch_embedder = SentenceTransformerEmbedder(backend="torch")
    probe = ["The tenant must give three months notice.", "Quarterly revenue grew by 12%."]
    assert (embedder.embed(probe) * torch_embedder.embed(probe)).sum(axis=1).min() >= 0.999
    base = await open_base(tmp_path, embedder)
    await ingest_ok(
        base,
        "alice",
        upload(
            "lease.pdf",
            "# Rent\nThe monthly rent is 1200 euros, due on the first.",
            "# Pets\nDogs and cats are allowed with a deposit.",
            "# Ending the lease\nThe tenant must give three months written notice to terminate.",
        ),
    )
    await ingest_ok(base, "bob", upload("bob.pdf", "# Ending\nBob's lease ends in June."))

    for mode in ("vector", "text", "hybrid"):
        hits = await base.search("How do I terminate my lease?", "alice", k=3, mode=mode)  # type: ignore[arg-type]
        assert hits[0].page == 3, mode
        assert all(h.document_name == "lease.pdf" for h in hits)
    hits = await base.search("Can I keep a puppy?", "alice", k=1, mode="vector")
    assert hits[0].section == "Pets"


@pytest.mark.slow
async def test_a_verified_onnx_export_searches_without_torch_with_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # this machine's GPU, if any, is not seen
    cache = tmp_path / "onnx"
    assert OnnxEmbedder.from_cache(cache) is None  # nothing exported and verified yet
    full = bundled_minilm(cache)  # the first start: the full model, which exports the graph
    assert isinstance(full, SentenceTransformerEmbedder)
    light = bundled_minilm(cache)  # every later start: the verified graph alone
    assert isinstance(light, OnnxEmbedder)
    assert (light.id, light.dimension) == (full.id, full.dimension)
    texts = ["How do I end the lease?", "Der Vertrag endet im Juni.", "rent " * 400]
    assert (full.embed(texts) * light.embed(texts)).sum(axis=1).min() > 0.99999

    base = await open_base(tmp_path / "store", full)
    await ingest_ok(
        base,
        "alice",
        upload(
            "lease.pdf", "# Rent\nThe rent is 1200 euros.", "# Ending\nGive three months notice."
        ),
    )
    light_base = await open_base(tmp_path / "store", light)
    for query in ("How do I terminate my lease?", "monthly payment"):
        expected = await base.search(query, "alice", k=2, mode="vector")
        found = await light_base.search(query, "alice", k=2, mode="vector")
        assert [(p.chunk_index, round(p.score, 5)) for p in found] == [
            (p.chunk_index, round(p.score, 5)) for p in expected
        ]
