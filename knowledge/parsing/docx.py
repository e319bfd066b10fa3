"""Word (.docx): paragraphs and tables in reading order; headings become section titles."""

from __future__ import annotations

from pathlib import Path

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from knowledge.documents import ParsedDocument, Section
from knowledge.parsing._shared import Progress, TextBudget, nonblank, render_table, tidy
from knowledge.parsing.limits import ParseLimits, check_archive

_HEADING_STYLES = ("Heading", "Title")


def _style(paragraph: Paragraph) -> str:
    style = paragraph.style
    return str(style.name or "") if style is not None else ""


def _table_lines(table: Table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A merged cell is reported once per grid column it spans: keep it once.
            if cell._tc is not previous:
                cells.append(" ".join(cell.text.split()))
            previous = cell._tc
        rows.append(cells)
    return render_table(rows)


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read a Word document; the zip is checked for bombs before it is opened."""
    check_archive(path, name=name, kind="a Word document", limits=limits)
    budget = TextBudget(name, limits.max_text_chars)
    document = docx.Document(str(path))
    sections: list[Section] = []
    title: str | None = None
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            sections.append(Section(text=tidy("\n\n".join(buffer)), title=title))
            buffer.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines = _table_lines(block)
            if lines:
                buffer.append(budget.spend("\n".join(lines)))
            continue
        text = budget.spend(block.text.strip())
        if not text:
            continue
        style = _style(block)
        if style.startswith(_HEADING_STYLES):
            flush()
            title = " ".join(text.split())
        elif style.startswith("List"):
            text = f"- {text}"
        buffer.append(text)
    flush()
    if progress is not None:
        progress(1, 1)
    metadata = {}
    if document.core_properties.title:
        metadata["title"] = document.core_properties.title
    return ParsedDocument(name=name, kind="docx", sections=nonblank(sections), metadata=metadata)
