"""A server process's ingestion, for the lease tests: it opens the shared knowledge base as the
server does and reads one file into it, stopping half-way until it is told to go on.

    python tests/db/ingester.py URL FILES_DIR KB_DIR OWNER GATE LEASE_S RENEW_S
    (repo root on PYTHONPATH; it imports nothing from `tests`, a name an installed
    package also uses)

Prints `staged` once the file's first chunks are staged (its record is `processing`), waits
there, its lease renewed meanwhile, until the file GATE exists (or the process is killed),
then prints `done <document_id> <chunks>` or `failed <code>` and exits.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from app.db.chainlit_data.layer import CadreDataLayer
from app.db.stores import SqlDocumentCatalog
from knowledge.base import KnowledgeBase
from knowledge.chunking import chunk_document
from knowledge.documents import ParsedDocument, Section
from knowledge.embedder import HashEmbedder, Vectors
from knowledge.ingest import IngestDone, IngestOptions, Upload
from knowledge.leases import LeaseOptions

PAGES = [
    "Zephyr overview. The team builds a network of solar weather stations on the ridge.",
    "Budget. The hardware budget is forty thousand euros, approved by the finance board.",
    "Schedule. The prototype deadline is the fourteenth of March, set by the steering group.",
    "Staffing. Two technicians install the masts; the quartermaster orders the batteries.",
]


async def one_section_a_page(
    path: Path, name: str, progress: Callable[[int, int], None]
) -> ParsedDocument:
    """Parse the test file: pages split by form feeds."""
    pages = path.read_text(encoding="utf-8").split("\f")  # noqa: ASYNC240 - a tiny file
    progress(len(pages), len(pages))
    sections = tuple(Section(text=page, page=n) for n, page in enumerate(pages, start=1))
    return ParsedDocument(name=name, kind="pdf", sections=sections, page_count=len(pages))


class GatedEmbedder(HashEmbedder):
    """Embeds the first batch at once; holds the second until the gate file exists."""

    def __init__(self, gate: Path) -> None:
        super().__init__(64)
        self.gate = gate
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        if self.calls == 2:  # the first batch is staged by now
            print("staged", flush=True)
            while not self.gate.exists():
                time.sleep(0.05)
        return super().embed(texts)


async def main(argv: list[str]) -> None:
    url, files, kb, owner, gate = argv[:5]
    lease = LeaseOptions(lease_s=float(argv[5]), renew_s=float(argv[6]))
    layer = CadreDataLayer.from_url(url, Path(files))
    try:
        base = await KnowledgeBase.open(
            kb,
            GatedEmbedder(Path(gate)),
            SqlDocumentCatalog(layer),
            parser=one_section_a_page,
            chunker=lambda document, count: chunk_document(document, count),
            ingest_options=IngestOptions(batch_size=1),
            lease_options=lease,
        )
        [outcome] = await base.ingest_all([Upload("zephyr.pdf", "\f".join(PAGES).encode())], owner)
        await base.close()
    finally:
        await layer.close()
    if isinstance(outcome, IngestDone):
        print(f"done {outcome.document_id} {outcome.chunks}", flush=True)
    else:
        print(f"failed {outcome.code}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
