"""Source code and config files: kept verbatim, titled with the file name."""

from __future__ import annotations

from pathlib import Path

from knowledge.documents import ParsedDocument, Section
from knowledge.parsing._shared import Progress, TextBudget, nonblank, read_text
from knowledge.parsing.limits import ParseLimits


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read a source file; indentation and blank lines are kept as they are."""
    text = TextBudget(name, limits.max_text_chars).spend(read_text(path, name=name))
    if progress is not None:
        progress(1, 1)
    section = Section(text=text.replace("\r\n", "\n").rstrip(), title=name)
    return ParsedDocument(name=name, kind="code", sections=nonblank([section]))
