"""Files dropped into the chat: ingest them while the person watches, keep the originals.

A step shows each file's progress (pages read, passages embedded) and ends with what became
of it: ready, already there, or why it could not be read. One file failing never stops the
others, and the originals are kept so a citation can open the page it points at.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import chainlit as cl

from app.chat.markdown import literal
from app.originals import keep_original
from knowledge.base import KnowledgeBase
from knowledge.ingest import IngestDone, IngestFailed, IngestProgress, Upload

log = logging.getLogger(__name__)

_STAGES = {
    "queued": "waiting",
    "parsing": "reading",
    "chunking": "splitting into passages",
    "embedding": "embedding",
    "storing": "saving",
}
_MIN_UPDATE_S = 0.25  # at most a few step updates a second, however fast progress comes


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    """What happened to one uploaded file."""

    name: str
    ok: bool
    document_id: str = ""
    detail: str = ""


class UploadedFile(Protocol):
    """A file the browser uploaded: a message's element, or an answer to `AskFileMessage`."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str | None: ...


def _progress_line(event: IngestProgress) -> str:
    stage = _STAGES.get(event.stage, event.stage)
    parts = [f"⏳ **{literal(event.document)}**: {stage}"]
    if event.pages:
        parts.append(f"page {event.pages_done}/{event.pages}")
    if event.total:
        parts.append(f"{event.chunks_embedded}/{event.total} passages embedded")
    return " · ".join(parts)


async def ingest_uploads(
    files: Sequence[UploadedFile], owner: str, kb: KnowledgeBase, originals_dir: Path
) -> list[UploadOutcome]:
    """Ingest `files` for `owner`, showing progress in one step; return each file's outcome."""
    paths = {f.name: Path(f.path) for f in files if f.path}
    lines = {name: f"⏳ **{literal(name)}**: waiting" for name in paths}
    outcomes: list[UploadOutcome] = []
    async with cl.Step(name="Reading your files", type="tool", show_input=False) as step:
        last = 0.0

        async def show(force: bool = False) -> None:
            nonlocal last
            if force or time.monotonic() - last >= _MIN_UPDATE_S:
                last = time.monotonic()
                step.output = "\n\n".join(lines.values())
                await step.update()

        # Off the event loop: a large upload would stall every other chat while it is read.
        sources = [
            Upload(name=name, data=await asyncio.to_thread(path.read_bytes))
            for name, path in paths.items()
        ]
        await show(force=True)
        async for event in kb.ingest(sources, owner):
            match event:
                case IngestProgress():
                    lines[event.document] = _progress_line(event)
                    await show()
                case IngestDone():
                    again = " (already uploaded: kept once)" if event.duplicate else ""
                    pages = f", {event.pages} pages" if event.pages else ""
                    lines[event.document] = (
                        f"✅ **{literal(event.document)}**: ready — "
                        f"{event.chunks} passages{pages}{again}"
                    )
                    for part in event.attachments:  # an e-mail's attachments, each a document
                        lines[part.document] = (
                            f"✅ **{literal(part.document)}**: ready — {part.chunks} passages"
                            if isinstance(part, IngestDone)
                            else f"❌ **{literal(part.document)}**: {literal(part.reason)}"
                        )
                    try:
                        await asyncio.to_thread(
                            keep_original,
                            paths[event.document],
                            originals_dir,
                            owner,
                            event.document_id,
                            event.document,
                        )
                    except OSError:
                        # The passages are stored; only opening the original from a citation
                        # is lost. The person is not shown a server path.
                        log.exception("Keeping the original of %s failed", event.document)
                    outcomes.append(UploadOutcome(event.document, True, event.document_id))
                    await show(force=True)
                case IngestFailed():
                    lines[event.document] = (
                        f"❌ **{literal(event.document)}**: {literal(event.reason)}"
                    )
                    log.warning(
                        "Ingesting %s failed (%s): %s", event.document, event.code, event.reason
                    )
                    outcomes.append(UploadOutcome(event.document, False, detail=event.reason))
                    await show(force=True)
        ready = sum(o.ok for o in outcomes)
        step.name = f"Read {ready} of {len(outcomes)} file{'s' if len(outcomes) != 1 else ''}"
        step.output = "\n\n".join(lines.values())
    return outcomes
