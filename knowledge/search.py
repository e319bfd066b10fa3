"""Vector, full-text and hybrid search over one owner's chunks.

Hybrid search fuses the two rankings with WEIGHTED reciprocal rank fusion:
`score = w_text / (c + rank_text) + w_vector / (c + rank_vector)`. The defaults (full text
1.0, dense 1.5, c = 5, 40 candidates a side for k = 10) come from a grid over weight ratio,
c, candidate depth and a normalised-score fusion on four sets (`bench/fusion_grid.py`,
docs/benchmarks.md "Fusion weights"): of the grid's settings they are within 0.001 of the
best mean nDCG@10 and nearly the smallest worst-case shortfall against each set's best.
People ask in their own words, and there the dense side is right more often: against the
previous full-text-heavy weights (1 : 0.5, c = 2, tuned on HaluEval-QA alone) nDCG@10 rises
from 0.67 to 0.77-0.79 on paraphrased questions over HTML reference pages and from 0.92 to
0.97-0.98 on office files (three ingests; dense alone 0.77 and 0.97). Questions that quote
their passage pay a little: HaluEval-QA 0.956 -> 0.929 (hit@5 0.976 -> 0.968; BM25 alone
0.952, dense 0.873), HotpotQA 0.650 -> 0.639. c = 5 rather than 10 (the same nDCG within
noise) keeps BM25's first hit above every passage only the dense side ranks fourth or
lower: exact codes and part numbers the dense model confuses (E-4127 vs E-4172) stay in the
top few, and HaluEval's hit@5 is 0.968 instead of 0.947 (codes are tested with the bundled
embedder in `tests/knowledge/test_search.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

from knowledge.documents import Passage
from knowledge.embedder import Embedder
from knowledge.store import KnowledgeStore

SearchMode = Literal["hybrid", "vector", "text"]
"""`hybrid` (both, fused), `vector` (dense only), `text` (full-text BM25 only)."""

SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "text")


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """Weights of weighted reciprocal rank fusion."""

    text: float = 1.0
    """Weight of the full-text (BM25) ranking."""
    vector: float = 1.5
    """Weight of the dense-vector ranking."""
    constant: float = 5.0
    """RRF's `c`: smaller favours each list's top ranks more."""
    depth: int = 4
    """Each side retrieves `depth * k` candidates (at least 20) before fusing."""

    def __post_init__(self) -> None:
        if self.text < 0 or self.vector < 0 or self.text + self.vector == 0:
            raise ValueError("FusionWeights need non-negative weights, not both zero")
        if self.constant < 0 or self.depth < 1:
            raise ValueError("FusionWeights.constant must be >= 0 and depth >= 1")


DEFAULT_WEIGHTS = FusionWeights()

# Shared by every Searcher: a thread per concurrent hybrid query is enough, and the pool
# bounds how many full-text searches a burst of queries can run at once.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="cadre-search")


def fuse(rankings: list[tuple[float, list[Passage]]], k: int, constant: float) -> list[Passage]:
    """Weighted RRF of several rankings: (weight, passages best first) -> top `k`."""
    scores: dict[tuple[str, int], float] = {}
    first_seen: dict[tuple[str, int], Passage] = {}
    for weight, passages in rankings:
        for rank, passage in enumerate(passages, start=1):
            key = (passage.document_id, passage.chunk_index)
            scores[key] = scores.get(key, 0.0) + weight / (constant + rank)
            first_seen.setdefault(key, passage)
    # Ties (same fused score) keep the order of first appearance: the stronger list's order.
    order = sorted(scores, key=lambda key: -scores[key])
    return [replace(first_seen[key], score=scores[key]) for key in order[:k]]


class Searcher:
    """Runs a query in one of the three modes against a store, for one owner at a time."""

    def __init__(
        self,
        store: KnowledgeStore,
        embedder: Embedder,
        weights: FusionWeights = DEFAULT_WEIGHTS,
        *,
        parallel: bool = True,
    ) -> None:
        if embedder.id != store.embedder_id:
            raise ValueError(
                f"the searcher's embedder {embedder.id!r} is not the store's {store.embedder_id!r}"
            )
        self.store = store
        self.embedder = embedder
        self.weights = weights
        self.parallel = parallel  # full-text side in a helper thread while vectors run

    def search(
        self,
        query: str,
        owner: str,
        k: int = 8,
        mode: SearchMode = "hybrid",
        documents: Sequence[str] | None = None,
    ) -> list[Passage]:
        """The owner's `k` best passages for `query`. Blocking: run it in a worker thread.

        `documents` limits the search to those document ids (filtered inside the store).
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
        if not query.strip():
            return []
        if mode == "text":
            return self.store.text_search(owner, query, k, documents)
        if mode == "vector":
            return self.store.vector_search(owner, self.embedder.embed_query(query), k, documents)
        depth = max(20, self.weights.depth * k)
        if self.parallel:
            # The two searches run in LanceDB's native code and release the GIL: overlapping
            # them (and the query embedding) cuts hybrid latency to about the slower one.
            text_future = _POOL.submit(self.store.text_search, owner, query, depth, documents)
            vector = self.embedder.embed_query(query)
            dense = self.store.vector_search(owner, vector, depth, documents)
            sparse = text_future.result()
        else:
            vector = self.embedder.embed_query(query)
            dense = self.store.vector_search(owner, vector, depth, documents)
            sparse = self.store.text_search(owner, query, depth, documents)
        return fuse(
            [(self.weights.text, sparse), (self.weights.vector, dense)], k, self.weights.constant
        )
