"""Retrieval latency at 100,000 chunks: p50/p95 of vector, full-text and hybrid search.

Data: synthetic. Texts are 60-180 pseudo-words drawn from a Zipf-distributed 30,000-word
vocabulary (so BM25 sees realistic term statistics). Vectors are NOT model outputs (embedding
100k chunks would take an hour on 2 cores): they are 384-dim, unit-norm, drawn around 2,000
random cluster centres with noise, which gives the clustered neighbourhoods real sentence
embeddings have. Queries: a stored vector perturbed with noise (so true neighbours exist) and
3-5 words taken from a stored chunk.

Everything goes through the product code: `KnowledgeStore` builds its IVF_PQ index itself
once the table passes `vector_index_rows` (50,000) and queries it with `refine_factor`;
`Searcher.search(..., mode="hybrid")` runs both searches and the weighted fusion. Hybrid is
timed without the query embedding (given separately for the bundled model with `--model`).
Recall@10 compares the indexed search with exact (brute-force numpy) search.

Baseline in the same run: LanceDB's own queries for the same work (its vector and full-text
queries with the owner pre-filter, and its native hybrid query with its RRF reranker), and
Cadre's hybrid "before" (owner filter always applied first, as until this bench's last
change). Every variant takes its turn query by query, so load changes fall on all alike.
Two phases: idle (run it holding the heavy-job lock) and loaded (`--busy` processes spinning).

    .venv/bin/python bench/retrieval.py [--rows 100000] [--queries 300] [--model] [--busy 1]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from lancedb.rerankers import RRFReranker

from knowledge import store as store_module
from knowledge.documents import Chunk
from knowledge.embedder import SentenceTransformerEmbedder, Vectors
from knowledge.search import Searcher, fuse
from knowledge.store import KnowledgeStore, StoreOptions

DIM = 384
OWNER = "bench-user"
COLUMNS = [
    "owner",
    "document_id",
    "document_name",
    "chunk_index",
    "page",
    "section",
    "text",
    "meta",
]


class PrecomputedQueries:
    """An `Embedder` whose query vectors were computed beforehand (timing excludes the model)."""

    def __init__(self, queries: dict[str, Vectors]) -> None:
        self.queries = queries

    id = "bench:random-384"
    dimension = DIM

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.queries[t] for t in texts])

    def embed_query(self, text: str) -> Vectors:
        return self.queries[text]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def corpus(rows: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    vocabulary = np.array([f"w{i:05d}" for i in range(30_000)])
    weights = 1.0 / np.arange(1, 30_001) ** 1.05
    weights /= weights.sum()
    lengths = rng.integers(60, 180, size=rows)
    words = rng.choice(vocabulary, size=int(lengths.sum()), p=weights)
    texts, at = [], 0
    for n in lengths:
        texts.append(" ".join(words[at : at + n]))
        at += n
    centres = rng.normal(size=(2_000, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, 2_000, size=rows)] + 0.6 * rng.normal(
        size=(rows, DIM)
    ).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, vectors.astype(np.float32)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--folder", help="reuse a store this bench built before (same --rows)")
    parser.add_argument(
        "--model", action="store_true", help="also time the bundled model's query encode"
    )
    parser.add_argument(
        "--busy", type=int, default=1, help="processes spinning during the loaded phase"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    started = time.perf_counter()
    texts, vectors = corpus(args.rows, rng)
    print(f"generated {args.rows} chunks in {time.perf_counter() - started:.0f} s", flush=True)

    folder = args.folder or tempfile.mkdtemp(prefix="cadre-latency-")
    options = StoreOptions()
    store = KnowledgeStore(
        folder, embedder_id=PrecomputedQueries.id, dimension=DIM, options=options
    )
    per_document = 10_000
    if store.count() == 0:
        started = time.perf_counter()
        # A second, small user in the same table: the big user's queries must still filter.
        staged = store.stage("someone-else", "other", "other.txt")
        staged.add([Chunk(text=texts[i], index=i) for i in range(100)], vectors[:100])
        staged.commit()
        for d, start in enumerate(range(0, args.rows, per_document)):
            staged = store.stage(OWNER, f"doc{d}", f"doc{d}.txt")
            for s in range(start, min(start + per_document, args.rows), 2_000):
                chunk_texts = texts[s : s + 2_000]
                chunks = [Chunk(text=t, index=s - start + i) for i, t in enumerate(chunk_texts)]
                staged.add(chunks, vectors[s : s + 2_000])
            staged.commit()
        store.wait_for_indexes()  # the IVF_PQ (re)build runs in the background
        store.optimize()
        print(f"stored + indexed in {time.perf_counter() - started:.0f} s in {folder}", flush=True)
    stats = {
        index.name: store._table.index_stats(index.name) for index in store._table.list_indices()
    }
    print(
        ", ".join(
            f"{name}: {s.num_indexed_rows} rows in {s.num_indices} segment(s), "
            f"{s.num_unindexed_rows} unindexed"
            for name, s in stats.items()
        ),
        flush=True,
    )

    n = args.queries
    picks = rng.integers(0, args.rows, size=n)
    query_vectors = vectors[picks] + 0.3 * rng.normal(size=(n, DIM)).astype(np.float32) / np.sqrt(
        DIM
    )
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
    query_texts = []
    for i, p in enumerate(picks):
        words = texts[p].split()
        take = rng.integers(3, 6)
        at = rng.integers(0, max(1, len(words) - take))
        query_texts.append(" ".join(words[at : at + take]) + f" q{i}")
    embedder = PrecomputedQueries(dict(zip(query_texts, query_vectors, strict=True)))
    searcher = Searcher(store, embedder)  # type: ignore[arg-type]
    table = store._table
    depth = max(20, searcher.weights.depth * 10)  # what hybrid asks of each side for k = 10
    owner_only = f"owner = '{OWNER}'"
    reranker = RRFReranker()

    def raw_vector(i: int, where: str | None = owner_only) -> object:
        query = table.search(query_vectors[i], vector_column_name="vector").distance_type("cosine")
        if where:
            query = query.where(where, prefilter=True)
        return query.nprobes(24).refine_factor(10).select(COLUMNS).limit(depth).to_arrow()

    def raw_text(i: int, where: str | None = owner_only) -> object:
        query = table.search(query_texts[i], query_type="fts", fts_columns="text")
        if where:
            query = query.where(where, prefilter=True)
        return query.select(COLUMNS).limit(depth).to_arrow()

    def raw_hybrid(i: int) -> object:
        return (
            table.search(query_type="hybrid", vector_column_name="vector", fts_columns="text")
            .vector(query_vectors[i])
            .text(query_texts[i])
            .distance_type("cosine")
            .where(owner_only, prefilter=True)
            .nprobes(24)
            .refine_factor(10)
            .select(COLUMNS)
            .limit(depth)  # each side's candidates, as Cadre asks (it returns them all, fused)
            .rerank(reranker)
            .to_arrow()
        )

    def before(run: Callable[[int], object]) -> Callable[[int], object]:
        """`run` with the owner filter always applied first, as the store did before."""

        def filtered_first(i: int) -> object:
            share = store_module._POSTFILTER_SHARE
            store_module._POSTFILTER_SHARE = 2.0
            try:
                return run(i)
            finally:
                store_module._POSTFILTER_SHARE = share

        return filtered_first

    def cadre_vector(i: int) -> object:
        return store.vector_search(OWNER, query_vectors[i], depth)

    def cadre_text(i: int) -> object:
        return store.text_search(OWNER, query_texts[i], depth)

    def cadre_hybrid(i: int) -> object:
        return searcher.search(query_texts[i], OWNER, 10, "hybrid")

    dense = [store.vector_search(OWNER, query_vectors[i], depth) for i in range(n)]
    sparse = [store.text_search(OWNER, query_texts[i], depth) for i in range(n)]
    weights = searcher.weights
    variants: list[tuple[str, Callable[[int], object]]] = [
        ("LanceDB vector query (IVF_PQ nprobes 24, refine 10), owner pre-filter", raw_vector),
        ("LanceDB vector query, no owner filter", lambda i: raw_vector(i, None)),
        ("LanceDB full-text query (BM25), owner pre-filter", raw_text),
        ("LanceDB full-text query, no owner filter", lambda i: raw_text(i, None)),
        ("**LanceDB hybrid** (its own RRF reranker, both queries in threads)", raw_hybrid),
        ("Cadre vector side (`vector_search`), before", before(cadre_vector)),
        ("Cadre vector side, after", cadre_vector),
        ("Cadre full-text side (`text_search`), before", before(cadre_text)),
        ("Cadre full-text side, after", cadre_text),
        (
            "weighted RRF of the two lists (`fuse`)",
            lambda i: fuse([(weights.text, sparse[i]), (weights.vector, dense[i])], 10, 5.0),
        ),
        ("**Cadre hybrid, before** (owner filter first)", before(cadre_hybrid)),
        ("**Cadre hybrid, after**", cadre_hybrid),
    ]
    # The model is timed on its own, after the others: ONNX Runtime's threads keep spinning a
    # while after a run and would slow whatever query came next.
    embedding: list[tuple[str, Callable[[int], object]]] = []
    if args.model:
        model = SentenceTransformerEmbedder(
            cache_dir=Path(tempfile.gettempdir()) / "cadre-bench" / "onnx"
        )
        model.embed_query("warm up")
        embedding.append(
            (
                f"query embedding, bundled MiniLM ({model.backend})",
                lambda i: model.embed_query(query_texts[i]),
            )
        )

    # Same answers: the post-filtered search returns what the owner-first search returns.
    same = sum(
        [(p.document_id, p.chunk_index) for p in cadre_hybrid(i)]  # type: ignore[attr-defined]
        == [(p.document_id, p.chunk_index) for p in before(cadre_hybrid)(i)]  # type: ignore[attr-defined]
        for i in range(n)
    )
    # Recall@10 of the indexed search (as the store runs it) against exact search.
    recalls = []
    for i in range(n):
        exact = np.argsort(-(vectors @ query_vectors[i]))[:10]
        truth = {(f"doc{j // per_document}", j % per_document) for j in exact}
        found = {
            (p.document_id, p.chunk_index) for p in store.vector_search(OWNER, query_vectors[i], 10)
        }
        recalls.append(len(truth & found) / 10)

    print(f"\n{args.rows:,} chunks (+100 of another user), {n} queries, k=10, {depth} a side\n")
    print(
        "identical hybrid top-10 (after vs before): "
        f"{same}/{n}; recall@10 of the indexed vector search vs exact: "
        f"{statistics.fmean(recalls):.3f}"
    )
    for phase, busy in (("idle", 0), ("loaded: one core kept busy", args.busy)):
        spawn = multiprocessing.get_context("spawn")
        burners = [spawn.Process(target=_spin, daemon=True) for _ in range(busy)]
        for burner in burners:
            burner.start()
        try:
            load = os.getloadavg()[0]
            times = interleaved(variants, n)
            times.update(interleaved(embedding, n))
        finally:
            for burner in burners:
                burner.terminate()
        print(f"\n### {phase} (load average {load:.1f} at the start)\n")
        print("| search | p50 ms | p95 ms | mean ms |")
        print("|---|---|---|---|")
        for name, ms in times.items():
            print(
                f"| {name} | {pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {statistics.fmean(ms):.1f} |"
            )
        lance = times[variants[4][0]]
        for label, key in (("before", variants[10][0]), ("after", variants[11][0])):
            ms = times[key]
            print(
                f"\nCadre hybrid {label} / LanceDB hybrid: p50 {pct(ms, 50) / pct(lance, 50):.2f}, "
                f"p95 {pct(ms, 95) / pct(lance, 95):.2f}"
            )


def _spin() -> None:
    while True:
        pass


def interleaved(
    variants: list[tuple[str, Callable[[int], object]]], n: int
) -> dict[str, list[float]]:
    """Milliseconds per query of every variant, taking turns query by query (so a change in
    the machine's load falls on all of them alike), after a warm-up of 10 queries each."""
    for i in range(min(10, n)):
        for _, run in variants:
            run(i)
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    for i in range(n):
        for name, run in variants:
            started = time.perf_counter()
            run(i)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


if __name__ == "__main__":
    main()
