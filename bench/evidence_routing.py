"""Where should "your documents answer this" start? The evidence threshold, measured.

The Chief of Staff sends a request to the Researcher when the person's best passage is
similar enough (cosine of the bundled embedder, `agents.chief.EVIDENCE_THRESHOLD`), and uses a
lower bar for documents attached earlier in the same conversation
(`THREAD_EVIDENCE_THRESHOLD`): a follow-up in a thread about a file is most likely about it.

On-topic: the questions of the HTML-section and office-file sets of
`bench/retrieval_corpora.py` (written about those files), scored against their own corpus.
Off-topic: the requests of `tests/data/routing_requests.jsonl` that are not about documents
(labels none, writer, analyst), scored against the same corpora: general questions, drafting
and arithmetic a person asks while files are around. For each threshold the table gives the
share of on-topic questions routed to the documents and of off-topic requests wrongly sent
there.

    .venv/bin/python bench/evidence_routing.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
from pathlib import Path

import retrieval_corpora  # bench/ is on sys.path when run as a script

from agents.chief import EVIDENCE_THRESHOLD, THREAD_EVIDENCE_THRESHOLD
from knowledge.base import KnowledgeBase
from knowledge.embedder import SentenceTransformerEmbedder

REQUESTS = Path(__file__).resolve().parents[1] / "tests" / "data" / "routing_requests.jsonl"
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


async def best_scores(kb: KnowledgeBase, texts: list[str]) -> list[float]:
    """The best passage's cosine similarity for each text."""
    scores = []
    for text in texts:
        best = await kb.search(text, retrieval_corpora.OWNER, k=1, mode="vector")
        scores.append(best[0].score if best else 0.0)
    return scores


async def main() -> None:
    rows = [json.loads(line) for line in REQUESTS.read_text(encoding="utf-8").splitlines() if line]
    off_rows = [r for r in rows if r["label"] != "researcher"]
    off_topic = [r["text"] for r in off_rows]
    general = [r["label"] == "none" for r in off_rows]
    embedder = SentenceTransformerEmbedder()
    on: list[float] = []
    off: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cadre-evidence-") as folder:
        for corpus in (retrieval_corpora.html_sections(), retrieval_corpora.office_files()):
            kb = await KnowledgeBase.open(Path(folder) / str(len(on)), embedder)
            await retrieval_corpora.ingest(kb, corpus)
            mine = await best_scores(kb, corpus.questions)
            theirs = await best_scores(kb, off_topic)
            print(
                f"{corpus.name}: on-topic median {statistics.median(mine):.3f} "
                f"(min {min(mine):.3f}), off-topic median {statistics.median(theirs):.3f} "
                f"(max {max(theirs):.3f})"
            )
            worst = sorted(zip(theirs, off_topic, strict=True), reverse=True)[:3]
            for score, text in worst:
                print(f"    off-topic {score:.3f}  {text}")
            on += mine
            off += theirs
    # The questions the Chief of Staff would answer itself suffer most from a wrong route
    # (the Researcher then says the documents do not cover it); drafting and arithmetic only
    # get a look-up step before their operator.
    chat = [s for s, g in zip(off, general * 2, strict=True) if g]
    work = [s for s, g in zip(off, general * 2, strict=True) if not g]
    print(f"\n{len(on)} on-topic questions, {len(off)} off-topic requests (both corpora)\n")
    print(
        "| threshold | on-topic routed to documents | general questions sent there "
        "| drafting/arithmetic given a look-up first |"
    )
    print("|---|---|---|---|")
    for t in THRESHOLDS:
        mark = " (shipped)" if t == EVIDENCE_THRESHOLD else ""
        mark += " (conversation's files)" if t == THREAD_EVIDENCE_THRESHOLD else ""
        share = [sum(s >= t for s in xs) / len(xs) for xs in (on, chat, work)]
        print(f"| {t:.2f}{mark} | " + " | ".join(f"{x:.1%}" for x in share) + " |")


if __name__ == "__main__":
    asyncio.run(main())
