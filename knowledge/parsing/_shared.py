"""Small helpers the format parsers share."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from knowledge.documents import Section
from knowledge.errors import ParseResourceLimit, UnsupportedFile
from knowledge.sniff import decode_text

Progress = Callable[[int, int], None]
"""Called as `progress(done, total)` while a long document is read (pages, sheets)."""

_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(\n\s*)+")


def tidy(text: str) -> str:
    """Collapse runs of spaces and of blank lines; keep single line breaks."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def render_record(header: Sequence[str], row: Sequence[str]) -> str:
    """One table row as a readable line: `name: Ada; role: engineer`."""
    fields = []
    for position, value in enumerate(row):
        value = " ".join(value.split())
        if not value:
            continue
        label = header[position] if position < len(header) and header[position] else None
        fields.append(f"{label or f'column {position + 1}'}: {value}")
    return "; ".join(fields)


def render_table(rows: Iterable[Sequence[str]]) -> list[str]:
    """Rows of cells as `col: value` lines, the first row being the header."""
    iterator = iter(rows)
    header = [" ".join(cell.split()) for cell in next(iterator, [])]
    lines = [render_record(header, row) for row in iterator]
    if not lines:  # a one-row table is data, not a header
        return [" | ".join(cell for cell in header if cell)] if any(header) else []
    return [line for line in lines if line]


class TextBudget:
    """Counts the characters a parser produces and stops it past `max_text_chars`."""

    def __init__(self, name: str, max_chars: int) -> None:
        self._name = name
        self._max = max_chars
        self._used = 0

    def spend(self, text: str) -> str:
        """Account for `text` and return it; raise `ParseResourceLimit` once over budget."""
        self._used += len(text)
        if self._used > self._max:
            raise ParseResourceLimit(
                self._name, f"it holds more than {self._max:,} characters of text"
            )
        return text


def nonblank(sections: Iterable[Section]) -> tuple[Section, ...]:
    """The sections that have any text."""
    return tuple(section for section in sections if section.text.strip())


def read_text(path: Path, *, name: str) -> str:
    """The file's text by its detected charset; `UnsupportedFile` if it is binary after all."""
    text = decode_text(path.read_bytes())
    if text is None:
        raise UnsupportedFile(name, "binary data that is not a known document format")
    return text
