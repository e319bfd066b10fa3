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
timed without the query embedding (given separately for the bundled model). Recall@10 compares
the indexed search with exact (brute-force numpy) search over the same vectors.

    .venv/bin/python bench/retrieval.py [--rows 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np

from knowledge.documents import Chunk
from knowledge.embedder import SentenceTransformerEmbedder, Vectors
from knowledge.search import Searcher
from knowledge.store import KnowledgeStore, StoreOptions

DIM = 384
OWNER = "bench-user"


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


def timed(run: Callable[[int], object], n: int) -> list[float]:
    for i in range(min(10, n)):
        run(i)  # warm the caches the first queries would otherwise pay for
    out = []
    for i in range(n):
        started = time.perf_counter()
        run(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


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

    vector_ms = timed(lambda i: store.vector_search(OWNER, query_vectors[i], 10), n)
    text_ms = timed(lambda i: store.text_search(OWNER, query_texts[i], 10), n)
    hybrid_ms = timed(lambda i: searcher.search(query_texts[i], OWNER, 10, "hybrid"), n)
    serial = Searcher(store, embedder, parallel=False)  # type: ignore[arg-type]
    serial_ms = timed(lambda i: serial.search(query_texts[i], OWNER, 10, "hybrid"), n)

    # Recall@10 of the indexed search against exact search over the owner's rows.
    owner_vectors = vectors  # all of the big user's rows, in (document, chunk) order
    recalls = []
    for i in range(n):
        exact = np.argsort(-(owner_vectors @ query_vectors[i]))[:10]
        truth = {(f"doc{j // per_document}", j % per_document) for j in exact}
        found = {
            (p.document_id, p.chunk_index) for p in store.vector_search(OWNER, query_vectors[i], 10)
        }
        recalls.append(len(truth & found) / 10)
    flat_ms = timed(
        lambda i: (
            store._table.search(query_vectors[i])
            .distance_type("cosine")
            .where(f"owner = '{OWNER}'")
            .bypass_vector_index()
            .limit(10)
            .to_list()
        ),
        min(n, 40),
    )

    rows = [
        ("vector (IVF_PQ, nprobes 24, refine_factor 20)", vector_ms),
        ("full-text (native BM25)", text_ms),
        ("hybrid (both + weighted RRF), searches overlapped", hybrid_ms),
        ("hybrid, the two searches one after the other", serial_ms),
        ("vector, exact scan (no index), for reference", flat_ms),
    ]
    if args.model:
        model = SentenceTransformerEmbedder(cache_dir=tempfile.gettempdir() + "/cadre-bench/onnx")
        model_ms = timed(lambda i: model.embed_query(query_texts[i % n]), 100)
        rows.append((f"query embedding, bundled MiniLM ({model.backend})", model_ms))
    print()
    print(f"{args.rows:,} chunks (+100 of another user), {n} queries, k=10")
    print()
    print("| search | p50 ms | p95 ms | mean ms |")
    print("|---|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {statistics.fmean(ms):.1f} |")
    print()
    print(f"recall@10 of the indexed vector search vs exact: {statistics.fmean(recalls):.3f}")


if __name__ == "__main__":
    main()
