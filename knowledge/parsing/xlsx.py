"""Excel (.xlsx) with openpyxl: one section per sheet, rows as `column: value` lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import openpyxl
from openpyxl.workbook.workbook import Workbook

from knowledge.documents import TABLE_ROWS, ParsedDocument, Section
from knowledge.parsing._shared import Progress, TextBudget, nonblank, render_record
from knowledge.parsing.limits import ParseLimits, check_archive


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def sheet_section(title: str, rows: Iterable[Sequence[object]], budget: TextBudget) -> Section:
    """One sheet as a section titled by its name: the first non-empty row names the columns,
    every later row is a `column: value; …` line, so each passage carries its headers."""
    header: list[str] | None = None
    lines = []
    for values in rows:
        row = [cell_text(value) for value in values]
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [" ".join(cell.split()) for cell in row]
            continue
        lines.append(budget.spend(render_record(header, row)))
    if header is not None and not lines:
        lines.append(" | ".join(cell for cell in header if cell))
    meta = {"sheet": title, TABLE_ROWS: "1"}
    if header:
        meta["columns"] = ", ".join(cell for cell in header if cell)
    return Section(text="\n".join(lines), title=title, meta=meta)


@contextmanager
def open_workbook(path: Path) -> Iterator[Workbook]:
    """The workbook at `path`, read-only with cached values, whatever the file is called.

    openpyxl refuses a path without an Excel extension (uploads are parsed from a file
    named `upload`), but not an open file.
    """
    with path.open("rb") as file:
        workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
        try:
            yield workbook
        finally:
            workbook.close()


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read every worksheet's cached values (no formulas are evaluated)."""
    check_archive(path, name=name, kind="an Excel workbook", limits=limits)
    budget = TextBudget(name, limits.max_text_chars)
    with open_workbook(path) as workbook:
        sheets = workbook.worksheets
        sections = []
        for number, sheet in enumerate(sheets, start=1):
            # A hostile file can declare a huge used range; without it, rows are read as
            # stored instead of padded out to the declared width.
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()
            sections.append(sheet_section(sheet.title, sheet.iter_rows(values_only=True), budget))
            if progress is not None:
                progress(number, len(sheets))
    return ParsedDocument(name=name, kind="xlsx", sections=nonblank(sections))
