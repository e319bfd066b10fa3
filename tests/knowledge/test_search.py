"""Search: owner isolation on every path, crafted owner strings, ranking and fusion."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.base import KnowledgeBase
from knowledge.documents import Passage
from knowledge.embedder import SentenceTransformerEmbedder
from knowledge.search import FusionWeights, fuse
from knowledge.store import InvalidOwnerError
from tests.knowledge.retrieval_helpers import ingest_ok, open_base, upload

MODES = ("vector", "text", "hybrid")
SECRET = "Project Nightingale launches on 14 March with a budget of 3.2 million."

CRAFTED = [
    "x' OR '1'='1",
    "%",
    "_",
    "*",
    "'",
    "''",
    '"',
    "\\",
    "alice\\",
    "alice' --",
    "' OR owner LIKE '%",
    "alice' OR 'a'='a",
    "1) OR (1=1",
    "ALICE",
    " alice",
]


@pytest.fixture
async def base(tmp_path: Path) -> KnowledgeBase:
    base = await open_base(tmp_path)
    await ingest_ok(
        base,
        "alice",
        upload(
            "plans.pdf", "# Launch\n" + SECRET, "# Budget\nThe budget was approved by the board."
        ),
    )
    await ingest_ok(base, "bob", upload("recipes.pdf", "# Soup\nBoil the leeks for ten minutes."))
    return base


@pytest.mark.parametrize("mode", MODES)
async def test_the_owner_finds_their_own_passage(base: KnowledgeBase, mode: str) -> None:
    hits = await base.search("When does Project Nightingale launch?", "alice", k=3, mode=mode)  # type: ignore[arg-type]

    assert hits[0].text.startswith("Project Nightingale")
    assert hits[0].document_name == "plans.pdf"
    assert hits[0].page == 1
    assert hits[0].section == "Launch"


@pytest.mark.parametrize("mode", MODES)
async def test_another_user_never_sees_the_passage(base: KnowledgeBase, mode: str) -> None:
    hits = await base.search("Project Nightingale launch budget", "bob", k=50, mode=mode)  # type: ignore[arg-type]

    assert {h.document_name for h in hits} <= {"recipes.pdf"}
    assert all("Nightingale" not in h.text for h in hits)
    assert await base.search("Project Nightingale", "carol", k=50, mode=mode) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("owner", CRAFTED, ids=repr)
@pytest.mark.parametrize("mode", MODES)
async def test_crafted_owner_strings_match_no_one(
    base: KnowledgeBase, owner: str, mode: str
) -> None:
    hits = await base.search("Nightingale budget leeks soup board", owner, k=50, mode=mode)  # type: ignore[arg-type]

    assert hits == []
    assert await base.list_documents(owner) == []
    assert not await base.delete_document(owner, "anything' OR '1'='1")
    assert base.store.count() == 3  # nothing was deleted by the crafted delete


async def test_a_crafted_owner_is_a_real_owner_of_its_own(tmp_path: Path) -> None:
    base = await open_base(tmp_path)
    crafted = "x' OR '1'='1"
    await ingest_ok(base, "alice", upload("a.pdf", SECRET))
    await ingest_ok(base, crafted, upload("c.pdf", "The crafted user's own note about leeks."))

    for mode in MODES:
        hits = await base.search("Nightingale leeks note", crafted, k=10, mode=mode)  # type: ignore[arg-type]
        assert [h.document_name for h in hits] == ["c.pdf"], mode
    assert [d.name for d in await base.list_documents(crafted)] == ["c.pdf"]


async def test_control_characters_in_owner_are_refused(base: KnowledgeBase) -> None:
    with pytest.raises(InvalidOwnerError):
        await base.search("Nightingale", "alice\x00", mode="text")


@pytest.mark.parametrize(
    "query", ["", "   ", "%", "' OR 1=1 --", '"unclosed', "AND OR NOT", "a:b +c -d", "(((", "\\"]
)
@pytest.mark.parametrize("mode", MODES)
async def test_odd_queries_return_a_list_without_error(
    base: KnowledgeBase, query: str, mode: str
) -> None:
    hits = await base.search(query, "alice", k=5, mode=mode)  # type: ignore[arg-type]

    assert isinstance(hits, list)
    assert all(h.document_name == "plans.pdf" for h in hits)


async def test_hybrid_keeps_an_exact_term_match_on_top(tmp_path: Path) -> None:
    base = await open_base(tmp_path)
    fillers = [
        f"# Part {i}\nGeneral remarks on invoices and payments, item {i}." for i in range(12)
    ]
    target = "# Codes\nThe reference code ZX-4471 identifies the invoice for payments."
    await ingest_ok(base, "alice", upload("invoices.pdf", *fillers, target))

    hybrid = await base.search("invoice ZX-4471", "alice", k=5, mode="hybrid")

    assert hybrid[0].section == "Codes"
    assert hybrid[0].score > hybrid[1].score


MANUAL = (
    "# Error E-4127\nThe controller shows E-4127 when the coolant pump stalls; reset the breaker.",
    "# Error E-4172\nThe controller shows E-4172 when a guard door is open; close it, press start.",
    "# Error E-1742\nE-1742 means the conveyor belt slipped; check the tension.",
    "# Drive belt\nThe replacement drive belt for the packing line is part number KX-2291-B.",
    "# Idler pulley\nThe idler pulley of the packing line is part number KX-2219-A.",
    "# Coolant\nTop up the coolant every week and check the pump for leaks.",
    "# Guards\nAll guard doors must be closed before the line starts.",
    "# Belts\nInspect belts for wear and tension every month; replace frayed belts.",
    "# Controller\nThe controller logs every fault with a code and a time stamp.",
    "# Restart\nAfter a fault, reset the breaker, clear the alarm and restart the packing line.",
)


@pytest.fixture(scope="module")
def bundled_embedder(model_cache: str) -> SentenceTransformerEmbedder:
    """The bundled MiniLM, loaded once for this module's ranking tests."""
    return SentenceTransformerEmbedder(cache_dir=Path(model_cache) / "onnx")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "section"),
    [
        # Codes that differ in two digits, where each side alone slips: dense alone ranks
        # E-4172's page first for "E-4127", BM25 alone E-1742's for "error E-4172".
        ("E-4127", "Error E-4127"),
        ("what does error E-4172 mean", "Error E-4172"),
        ("E-1742", "Error E-1742"),
        ("KX-2291-B", "Drive belt"),
        ("part KX-2219-A", "Idler pulley"),
        # And in the person's own words, where BM25 alone ranks it third (and so did the
        # previous full-text-heavy weights, 1 : 0.5 with c = 2).
        ("the pump for the coolant stopped, which fault code?", "Error E-4127"),
    ],
)
async def test_hybrid_with_the_bundled_embedder_puts_codes_and_paraphrases_first(
    tmp_path: Path, bundled_embedder: SentenceTransformerEmbedder, query: str, section: str
) -> None:
    base = await open_base(tmp_path, bundled_embedder)
    await ingest_ok(base, "alice", upload("manual.pdf", *MANUAL))

    hits = await base.search(query, "alice", k=5, mode="hybrid")

    assert hits[0].section == section, [h.section for h in hits]


def _p(doc: str, index: int) -> Passage:
    return Passage(
        text=f"{doc}{index}", document_id=doc, document_name=doc, chunk_index=index, score=0
    )


def test_weighted_fusion_follows_the_heavier_list() -> None:
    text = [_p("a", 1), _p("a", 2), _p("a", 3)]
    dense = [_p("a", 3), _p("a", 2), _p("a", 1)]

    text_heavy = fuse([(1.0, text), (0.5, dense)], 3, 20)
    dense_heavy = fuse([(0.5, text), (1.0, dense)], 3, 20)

    assert [p.chunk_index for p in text_heavy] == [1, 2, 3]
    assert [p.chunk_index for p in dense_heavy] == [3, 2, 1]
    assert text_heavy[0].score == pytest.approx(1.0 / 21 + 0.5 / 23)


def test_fusion_rewards_agreement() -> None:
    text = [_p("a", 1), _p("b", 1), _p("c", 1)]
    dense = [_p("d", 1), _p("b", 1), _p("e", 1)]

    fused = fuse([(1.0, text), (1.0, dense)], 2, 60)

    assert fused[0].document_id == "b"


def test_fusion_weights_are_validated() -> None:
    with pytest.raises(ValueError, match="not both zero"):
        FusionWeights(text=0, vector=0)
