"""Vector, full-text and hybrid search over one owner's chunks.

Hybrid search fuses the two rankings with WEIGHTED reciprocal rank fusion:
`score = w_text / (c + rank_text) + w_vector / (c + rank_vector)`. Plain RRF (equal weights)
loses top-1 to BM25 alone on entity-heavy questions (names, numbers, identifiers), where the
exact-term ranking is usually right and the dense one only close; weighting the full-text side
keeps its top hits on top while the dense ranking still lifts paraphrased matches into the
top k. The defaults (full text 1.0, dense 0.5, c = 2: top ranks count most) were tuned on
2,000 dev questions of HaluEval-QA and hold on HotpotQA; see `bench/retrieval_quality.py`
and docs/benchmarks.md ("Retrieval quality").
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
    vector: float = 0.5
    """Weight of the dense-vector ranking."""
    constant: float = 2.0
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
