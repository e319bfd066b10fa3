"""The full-text index keeps up with commits: the first document stays findable by keywords.

LanceDB scores rows its FTS index holds with the index's own statistics and rows appended
since with statistics of the whole table. An index made at the first commit holds one
document, so until it is brought up to date that document's terms look common (low IDF) and it
ranks below every later document that shares a word with the query.
"""

from __future__ import annotations

from pathlib import Path

from knowledge.documents import Chunk
from knowledge.embedder import HashEmbedder
from knowledge.store import KnowledgeStore
from tests.knowledge.retrieval_helpers import ingest_ok, open_base, upload

LEASE = (
    "# Terms\nThe tenant pays rent of 1200 euros on the first day of each month.",
    "# Notice\nEither party may end the lease with three months written notice.",
    "# Deposit\nThe deposit of 2400 euros is returned within thirty days after the lease ends.",
)
TOPICS = ("parking", "heating", "laundry", "recycling", "visitors", "keys", "pets", "noise")


def _commit(store: KnowledgeStore, embedder: HashEmbedder, document_id: str, *texts: str) -> None:
    staged = store.stage("alice", document_id, f"{document_id}.txt")
    chunks = [Chunk(text=text, index=i, page=i + 1) for i, text in enumerate(texts)]
    staged.add(chunks, embedder.embed(list(texts)))
    staged.commit()


def test_the_first_document_outranks_later_ones_that_share_one_query_word(
    tmp_path: Path,
) -> None:
    embedder = HashEmbedder(16)
    store = KnowledgeStore.for_embedder(tmp_path, embedder)
    first = "The quarterly invoice from Harbourline Logistics lists the storage fee of 300 euros"
    _commit(store, embedder, "invoice", first)
    # Each later document matches one word of the query, as real documents do.
    words = ("quarterly", "invoice", "storage", "fee", "logistics", "euros")
    for i, word in enumerate(words):
        _commit(
            store,
            embedder,
            f"note-{i}",
            *(f"Note {i}.{page} about {word} and {TOPICS[page]}" for page in range(4)),
        )

    for query, k in ((first, 3), ("Harbourline storage fee", 1), ("quarterly invoice", 1)):
        hits = store.text_search("alice", query, k)
        assert hits, query
        assert hits[0].document_id == "invoice", (query, [(h.document_id, h.score) for h in hits])
    # Every document answers its own words first, however late it came.
    for i in range(len(words)):
        hits = store.text_search("alice", f"Note {i}.2 about {words[i]} and {TOPICS[2]}", 1)
        assert (hits[0].document_id, hits[0].chunk_index) == (f"note-{i}", 2)


async def test_a_first_upload_is_still_found_by_keywords_after_a_second(tmp_path: Path) -> None:
    base = await open_base(tmp_path)
    [lease] = await ingest_ok(base, "alice", upload("lease.pdf", *LEASE))
    handbook = [f"# {topic.title()}\nHouse rules on {topic} for all residents." for topic in TOPICS]
    handbook += [
        "# Gym\nThe gym membership renews every thirty days.",
        "# Keys\nA key deposit is returned when the keys are handed back.",
        "# Notice board\nWritten notes go on the notice board.",
    ]
    handbook += [f"# Floor {n}\nResidents of floor {n} share one storage room." for n in range(6)]
    await ingest_ok(base, "alice", upload("handbook.pdf", *handbook))

    hits = await base.search("deposit returned within thirty days", "alice", k=3, mode="text")
    assert [(h.document_id, h.page) for h in hits[:1]] == [(lease.document_id, 3)], hits
    hits = await base.search("three months written notice", "alice", k=3, mode="text")
    assert [(h.document_id, h.page) for h in hits[:1]] == [(lease.document_id, 2)], hits
    hybrid = await base.search("when is the deposit returned", "alice", k=3, mode="hybrid")
    assert lease.document_id in {h.document_id for h in hybrid}
