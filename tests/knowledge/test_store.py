"""The LanceDB store: visibility, deletion, duplicates, embedder pinning, indexes, recovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.catalog import DocumentStatus
from knowledge.documents import Chunk
from knowledge.embedder import HashEmbedder
from knowledge.store import (
    EmbedderMismatchError,
    InvalidOwnerError,
    KnowledgeStore,
    StoreOptions,
    check_owner,
    sql_literal,
)
from tests.knowledge.retrieval_helpers import ingest_ok, open_base, store_of, upload
from tests.support.local_http import serving

CONTRACT = (
    "# Terms\nThe tenant pays rent of 1200 euros on the first day of each month.",
    "# Notice\nEither party may end the lease with three months written notice.",
    "# Deposit\nThe deposit of 2400 euros is returned within thirty days after the lease ends.",
)


def _chunks(texts: list[str], start: int = 0) -> list[Chunk]:
    return [
        Chunk(text=t, index=start + i, page=1 + i // 3, section="s") for i, t in enumerate(texts)
    ]


async def test_a_committed_document_is_readable_in_order(tmp_path: Path) -> None:
    base = await open_base(tmp_path)
    [done] = await ingest_ok(base, "alice", upload("lease.pdf", *CONTRACT))

    passages = await base.read_document("alice", done.document_id)

    assert [p.page for p in passages] == [1, 2, 3]
    assert [p.section for p in passages] == ["Terms", "Notice", "Deposit"]
    assert "three months" in passages[1].text
    assert [p.chunk_index for p in passages] == [0, 1, 2]
    assert await base.read_document("bob", done.document_id) == []


async def test_delete_makes_passages_vanish_at_once(tmp_path: Path) -> None:
    base = await open_base(tmp_path)
    [done] = await ingest_ok(base, "alice", upload("lease.pdf", *CONTRACT))
    await ingest_ok(base, "alice", upload("other.pdf", "Unrelated notes about gardening."))
    assert await base.search("written notice lease", "alice", mode="text")

    assert await base.delete_document("alice", done.document_id)

    for mode in ("vector", "text", "hybrid"):
        found = await base.search("written notice lease", "alice", k=10, mode=mode)
        assert all(p.document_id != done.document_id for p in found), mode
    assert [d.name for d in await base.list_documents("alice")] == ["other.pdf"]
    assert await base.read_document("alice", done.document_id) == []
    # Another process opening the folder sees the deletion too.
    assert store_of(tmp_path).count("alice") == 1


async def test_documents_are_listed_after_a_restart_without_a_catalog(tmp_path: Path) -> None:
    base = await open_base(tmp_path)
    [done] = await ingest_ok(base, "alice", upload("lease.pdf", *CONTRACT))

    restarted = await open_base(tmp_path)  # a fresh in-memory catalog

    [record] = await restarted.list_documents("alice")
    assert (record.document_id, record.name, record.status) == (
        done.document_id,
        "lease.pdf",
        DocumentStatus.READY,
    )
    assert (record.chunks, record.pages) == (3, 3)
    assert await restarted.list_documents("bob") == []


async def test_deleting_someone_elses_document_does_nothing(tmp_path: Path) -> None:
    base = await open_base(tmp_path)
    [done] = await ingest_ok(base, "alice", upload("lease.pdf", *CONTRACT))

    assert not await base.delete_document("bob", done.document_id)

    assert len(await base.read_document("alice", done.document_id)) == 3


async def test_uploading_the_same_file_again_adds_no_duplicates(tmp_path: Path) -> None:
    base = await open_base(tmp_path)
    [first] = await ingest_ok(base, "alice", upload("lease.pdf", *CONTRACT))

    [again] = await ingest_ok(base, "alice", upload("lease (1).pdf", *CONTRACT))
    both = await base.ingest_all(
        [upload("copy.pdf", *CONTRACT), upload("copy2.pdf", *CONTRACT)], "alice"
    )

    assert again.duplicate
    assert again.document_id == first.document_id
    assert all(isinstance(o, type(first)) and o.document_id == first.document_id for o in both)
    assert base.store.count("alice") == 3
    hits = await base.search("three months written notice", "alice", k=10, mode="text")
    assert len(hits) == len({(p.document_id, p.chunk_index) for p in hits})
    assert len(await base.list_documents("alice")) == 1
    # The same bytes uploaded by someone else are theirs, stored separately.
    await ingest_ok(base, "bob", upload("lease.pdf", *CONTRACT))
    assert base.store.count("bob") == 3


async def test_a_store_refuses_a_different_embedder(tmp_path: Path) -> None:
    base = await open_base(tmp_path, HashEmbedder(64))
    await ingest_ok(base, "alice", upload("lease.pdf", *CONTRACT))

    with pytest.raises(EmbedderMismatchError, match=r"hash:64.*reindex"):
        KnowledgeStore.for_embedder(tmp_path, HashEmbedder(32))


async def test_reindex_switches_every_chunk_to_the_new_embedder(tmp_path: Path) -> None:
    base = await open_base(tmp_path, HashEmbedder(64))
    [done] = await ingest_ok(base, "alice", upload("lease.pdf", *CONTRACT))

    switched = await base.reindex(HashEmbedder(32))

    assert switched.store.embedder_id == "hash:32"
    hits = await switched.search("three months written notice", "alice", k=1, mode="vector")
    assert hits[0].document_id == done.document_id
    assert hits[0].page == 2
    reopened = KnowledgeStore.for_embedder(tmp_path, HashEmbedder(32))
    assert reopened.count("alice") == 3
    assert reopened.text_search("alice", "deposit", 3)[0].page == 3
    with pytest.raises(EmbedderMismatchError):
        KnowledgeStore.for_embedder(tmp_path, HashEmbedder(64))
    # New uploads go on working with the new embedder.
    await ingest_ok(
        switched, "alice", upload("more.pdf", "# Parking\nOne parking space is included.")
    )
    assert (await switched.search("parking space", "alice", k=1))[0].document_name == "more.pdf"


def test_staged_rows_stay_invisible_and_recover_removes_them(tmp_path: Path) -> None:
    embedder = HashEmbedder(16)
    store = KnowledgeStore.for_embedder(tmp_path, embedder)
    texts = ["alpha contract clause", "beta contract clause", "gamma contract clause"]
    staged = store.stage("alice", "doc1", "a.pdf")
    staged.add(_chunks(texts[:2]), embedder.embed(texts[:2]))
    staged.add(_chunks(texts[2:], 2), embedder.embed(texts[2:]))

    # Nothing is visible before the commit, through any path, from any store object.
    for view in (store, KnowledgeStore.for_embedder(tmp_path, embedder)):
        assert view.text_search("alice", "contract", 10) == []
        assert view.vector_search("alice", embedder.embed_query("alpha"), 10) == []
        assert view.read_document("alice", "doc1") == []
        assert view.documents("alice") == []
    # The process "dies" here; the next start recovers.
    restarted = KnowledgeStore.for_embedder(tmp_path, embedder)
    assert restarted.recover() == 3
    assert restarted.staged_count() == 0
    assert restarted.count() == 0


def test_commit_shows_the_whole_document(tmp_path: Path) -> None:
    embedder = HashEmbedder(16)
    store = KnowledgeStore.for_embedder(tmp_path, embedder)
    texts = [f"clause {i} of the supply agreement" for i in range(7)]
    staged = store.stage("alice", "doc1", "a.pdf")
    for start in range(0, 7, 3):
        staged.add(
            _chunks(texts[start : start + 3], start), embedder.embed(texts[start : start + 3])
        )

    assert staged.commit() == 7

    assert len(store.read_document("alice", "doc1")) == 7
    assert store.staged_count() == 0
    assert store.documents("alice")[0].chunks == 7


@pytest.mark.parametrize("owner", ["", "a\x00b", "line\nbreak", "x" * 300, "tab\there"], ids=repr)
def test_unusable_owner_ids_are_refused(owner: str) -> None:
    with pytest.raises(InvalidOwnerError, match="not a valid owner id"):
        check_owner(owner)


def test_sql_literals_double_quotes_and_keep_backslashes() -> None:
    assert sql_literal("x' OR '1'='1") == "'x'' OR ''1''=''1'"
    assert sql_literal("a\\") == "'a\\'"


def test_ivf_pq_index_is_built_past_the_threshold_and_results_stay_right(tmp_path: Path) -> None:
    embedder = HashEmbedder(32)
    store = KnowledgeStore.for_embedder(
        tmp_path, embedder, StoreOptions(vector_index_rows=300, refine_factor=10)
    )
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(400)]
    texts = [" ".join(rng.choice(words, size=6)) + f" marker{i}" for i in range(420)]
    for owner, rows in (("alice", texts[:400]), ("bob", texts[400:])):
        staged = store.stage(owner, f"doc-{owner}", f"{owner}.txt")
        staged.add(_chunks(rows), embedder.embed(rows))
        staged.commit()
    store.wait_for_indexes()

    assert store.has_vector_index()
    assert store.count() == 420
    # Alice has enough rows for the ANN path; the refined search still finds exact matches.
    for i in (0, 137, 399):
        [hit] = store.vector_search("alice", embedder.embed_query(texts[i]), 1)
        assert hit.text == texts[i]
        assert hit.score == pytest.approx(1.0, abs=1e-4)
    # Bob's few rows are searched exactly and never mix with Alice's.
    hits = store.vector_search("bob", embedder.embed_query(texts[405]), 30)
    assert hits[0].text == texts[405]
    assert len(hits) == 20
    assert all(h.document_id == "doc-bob" for h in hits)
    # Doubling the table rebuilds the index in the background; answers stay right meanwhile.
    more = [" ".join(rng.choice(words, size=6)) + f" extra{i}" for i in range(420)]
    staged = store.stage("alice", "doc-more", "more.txt")
    staged.add(_chunks(more), embedder.embed(more))
    staged.commit()
    assert store.vector_search("alice", embedder.embed_query(more[7]), 1)[0].text == more[7]
    store.wait_for_indexes()
    assert store.vector_search("alice", embedder.embed_query(more[9]), 1)[0].text == more[9]
    assert all(
        h.document_id in ("doc-alice", "doc-more")
        for h in store.vector_search("alice", embedder.embed_query(texts[405]), 50)
    )


def test_an_s3_uri_is_handed_to_lancedb(tmp_path: Path) -> None:
    # A stand-in object store on loopback answers every request with S3's "access denied":
    # what matters is that the URI goes to LanceDB untouched (not treated as a local path),
    # LanceDB's S3 client asks that endpoint for the bucket, and LanceDB's error comes back.
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    asked: list[str] = []

    async def denied(request: Request) -> Response:
        asked.append(f"{request.method} {request.url.path}")
        return Response("<Error><Code>AccessDenied</Code></Error>", 403, media_type="text/xml")

    store = Starlette(routes=[Route("/{rest:path}", denied, methods=["GET", "PUT", "HEAD"])])
    with serving(store, "fake-s3") as endpoint, pytest.raises(ValueError, match="S3") as caught:
        KnowledgeStore(
            "s3://cadre-test-bucket/knowledge",
            embedder_id="hash:8",
            dimension=8,
            options=StoreOptions(
                storage_options=(
                    ("aws_endpoint", endpoint),
                    ("aws_access_key_id", "x"),
                    ("aws_secret_access_key", "y"),
                    ("aws_region", "us-east-1"),
                    ("allow_http", "true"),
                    ("client_max_retries", "0"),
                    ("client_retry_timeout", "1"),
                )
            ),
        )
    assert not (tmp_path / "s3:").exists()
    assert not Path("s3:").exists()
    assert asked, "LanceDB never asked the object store"
    assert all(
        line.startswith(("GET /cadre-test-bucket", "HEAD /cadre-test-bucket")) for line in asked
    )
    assert "403" in str(caught.value) or "AccessDenied" in str(caught.value), caught.value


def test_a_store_made_before_chunk_facts_existed_gains_them_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    import lancedb
    import pyarrow as pa

    embedder = HashEmbedder(64)
    old_fields = [
        pa.field("owner", pa.string(), nullable=False),
        pa.field("document_id", pa.string(), nullable=False),
        pa.field("document_name", pa.string(), nullable=False),
        pa.field("chunk_index", pa.int32(), nullable=False),
        pa.field("page", pa.int32()),
        pa.field("section", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), 64)),
        pa.field("embedder_id", pa.string(), nullable=False),
    ]
    schema = pa.schema(old_fields, metadata={b"cadre.embedder_id": embedder.id.encode()})
    vector = embedder.embed(["The tenant pays rent of 1200 euros."])[0].tolist()
    row = {
        "owner": "alice",
        "document_id": "d1",
        "document_name": "lease.pdf",
        "chunk_index": 0,
        "page": 1,
        "section": None,
        "text": "The tenant pays rent of 1200 euros.",
        "vector": vector,
        "embedder_id": embedder.id,
    }
    lancedb.connect(tmp_path).create_table("chunks", data=pa.Table.from_pylist([row], schema))

    store = store_of(tmp_path, embedder)
    [old] = store.read_document("alice", "d1")
    assert (old.text, old.page, old.meta, old.label()) == (
        row["text"],
        1,
        {},
        "lease.pdf, page 1",
    )
    staged = store.stage("alice", "d2", "scan.png")
    chunk = Chunk(text="Meter reading 48213 kWh", index=0, meta={"scanned": "1"})
    staged.add([chunk], embedder.embed([chunk.text]))
    assert staged.commit() == 1
    [new] = store_of(tmp_path, embedder).read_document("alice", "d2")
    assert (new.meta, new.scanned, new.label()) == ({"scanned": "1"}, True, "scan.png, scanned")


@pytest.mark.parametrize("alice_rows", [190, 400])
def test_an_owner_of_nearly_every_row_gets_k_of_their_own_when_others_rank_first(
    tmp_path: Path, alice_rows: int
) -> None:
    # Alice holds 95% (or 98%) of the table, so her searches filter after ranking; Bob's ten
    # rows are the best matches for her query in both searches, and must not cost her results.
    embedder = HashEmbedder(32)
    store = KnowledgeStore.for_embedder(tmp_path, embedder)
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)]
    alice = [" ".join(rng.choice(words, size=8)) for _ in range(alice_rows)]
    for i in range(0, 50, 10):
        alice[i] += " harbour"  # five of Alice's rows match one word of the query
    bob = [f"harbour invoice total due {i}" for i in range(10)]
    for owner, rows in (("alice", alice), ("bob", bob)):
        staged = store.stage(owner, f"doc-{owner}", f"{owner}.txt")
        staged.add(_chunks(rows), embedder.embed(rows))
        staged.commit()
    query = "harbour invoice total due"

    texts = store.text_search("alice", query, 5)
    assert sorted(h.chunk_index for h in texts) == [0, 10, 20, 30, 40]
    vector = embedder.embed_query(query)
    nearest = store.vector_search("alice", vector, 5)
    exact = np.argsort(-(embedder.embed(alice) @ vector), kind="stable")[:5]
    assert [h.chunk_index for h in nearest] == [int(i) for i in exact]
    assert all(h.document_id == "doc-alice" for h in texts + nearest)
    # Bob, a small owner, is filtered before ranking and sees only his own rows.
    assert {h.document_id for h in store.text_search("bob", query, 20)} == {"doc-bob"}
    assert len(store.vector_search("bob", vector, 20)) == 10
