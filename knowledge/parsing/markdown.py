"""Markdown: kept as written, split into sections at its headings.

A section's title is its heading path (`Install › Linux › Debian`): the headings above it,
one per level, so a passage found alone still says where in the document it sits.
"""

from __future__ import annotations

import re
from pathlib import Path

from knowledge.documents import ParsedDocument, Section
from knowledge.parsing._shared import Progress, TextBudget, nonblank, read_text
from knowledge.parsing.limits import ParseLimits

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE = re.compile(r"[*_`]+|\[([^\]]*)\]\([^)]*\)")


def _plain(heading: str) -> str:
    """A heading without emphasis markers or link targets."""
    return " ".join(_INLINE.sub(lambda m: m.group(1) or "", heading).split())


SEPARATOR = " › "
"""Between the headings of a section's heading path."""


class HeadingPath:
    """The headings above the current text, one per level."""

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []

    def enter(self, level: int, heading: str) -> str:
        """Start a section under `heading` at `level` (1 = top); return its path."""
        while self._open and self._open[-1][0] >= level:
            self._open.pop()
        self._open.append((level, heading))
        return SEPARATOR.join(text for _, text in self._open)


def split_sections(text: str) -> list[Section]:
    """Sections of Markdown text, each starting at an ATX or setext heading."""
    sections: list[Section] = []
    title: str | None = None
    buffer: list[str] = []
    fence: str | None = None
    path = HeadingPath()
    heading_lines = 0

    def flush(lines: list[str]) -> None:
        body = "\n".join(lines).strip()
        # A heading with nothing under it is part of the next section's path, not a passage.
        if body and (
            title is None or len([line for line in lines if line.strip()]) > heading_lines
        ):
            sections.append(Section(text=body, title=title))

    for line in text.splitlines():
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = None
            buffer.append(line)
            continue
        if opener:
            fence = opener.group(1)
            buffer.append(line)
            continue
        atx = _ATX.match(line)
        setext = _SETEXT.match(line)
        if atx and atx.group(2):
            flush(buffer)
            title, buffer = path.enter(len(atx.group(1)), _plain(atx.group(2))), [line]
            heading_lines = 1
        elif setext and buffer and buffer[-1].strip() and not _SETEXT.match(buffer[-1]):
            # `Title\n=====`: the previous line was the heading.
            heading = buffer.pop()
            flush(buffer)
            level = 1 if setext.group(1).startswith("=") else 2
            title, buffer = path.enter(level, _plain(heading)), [heading, line]
            heading_lines = 2
        else:
            buffer.append(line)
    flush(buffer)
    return sections


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read a Markdown file; each heading starts a section titled by it."""
    text = TextBudget(name, limits.max_text_chars).spend(read_text(path, name=name))
    if progress is not None:
        progress(1, 1)
    return ParsedDocument(name=name, kind="markdown", sections=nonblank(split_sections(text)))
