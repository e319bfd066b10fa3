"""Where the original bytes of people's documents are kept, and reading them back.

The chat keeps each uploaded file so a citation can open the page it points at, and the
Analyst's `query_table` reads a whole spreadsheet from it. The names are made by the
server (the document id and a short extension), never the person's file name.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from agents.table_query import TableLoader
from knowledge.tables import Table, read_tables

_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")


def kept_suffix(name: str) -> str:
    """The extension an original is kept under: short letters and digits, or none at all."""
    suffix = Path(name).suffix.lower()
    return suffix if _SUFFIX.fullmatch(suffix) else ""


def original_path(originals_dir: Path, owner: str, document_id: str, name: str) -> Path:
    """Where the original bytes of an owner's document are kept (a name the server made)."""
    return originals_dir / owner / f"{document_id}{kept_suffix(name)}"


def find_original(originals_dir: Path, owner: str, document_id: str) -> Path | None:
    """The kept original of a document, whatever its extension."""
    folder = originals_dir / owner
    if not folder.is_dir():
        return None
    return next(iter(sorted(folder.glob(f"{document_id}*"))), None)


def keep_original(
    source: Path, originals_dir: Path, owner: str, document_id: str, name: str
) -> None:
    """Copy `source` to where the document's original is kept, unless it is there already."""
    target = original_path(originals_dir, owner, document_id, name)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def original_tables(originals_dir: Path) -> TableLoader:
    """A `TableLoader` over the kept originals: every sheet, or `None` when none is kept."""

    async def load(owner: str, document_id: str, name: str) -> Sequence[Table] | None:
        original = await asyncio.to_thread(find_original, originals_dir, owner, document_id)
        if original is None:
            return None
        return await asyncio.to_thread(read_tables, original, name=name)

    return load
