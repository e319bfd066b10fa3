"""Plain text in whatever charset it was saved in."""

from __future__ import annotations

from pathlib import Path

from knowledge.documents import ParsedDocument, Section
from knowledge.parsing._shared import Progress, TextBudget, nonblank, read_text, tidy
from knowledge.parsing.limits import ParseLimits


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read a text file as one untitled section; the chunker splits it at paragraphs."""
    text = TextBudget(name, limits.max_text_chars).spend(read_text(path, name=name))
    if progress is not None:
        progress(1, 1)
    return ParsedDocument(name=name, kind="text", sections=nonblank([Section(text=tidy(text))]))
