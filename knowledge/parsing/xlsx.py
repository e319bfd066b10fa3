"""Excel (.xlsx) with openpyxl: one section per sheet, rows as `column: value` lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

import openpyxl

from knowledge.documents import ParsedDocument, Section
from knowledge.parsing._shared import Progress, TextBudget, nonblank, render_record
from knowledge.parsing.limits import ParseLimits, check_archive


def _cell(value: object) -> str:
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
        row = [_cell(value) for value in values]
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [" ".join(cell.split()) for cell in row]
            continue
        lines.append(budget.spend(render_record(header, row)))
    if header is not None and not lines:
        lines.append(" | ".join(cell for cell in header if cell))
    meta = {"sheet": title}
    if header:
        meta["columns"] = ", ".join(cell for cell in header if cell)
    return Section(text="\n".join(lines), title=title, meta=meta)


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read every worksheet's cached values (no formulas are evaluated)."""
    check_archive(path, name=name, kind="an Excel workbook", limits=limits)
    budget = TextBudget(name, limits.max_text_chars)
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
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
    finally:
        workbook.close()
    return ParsedDocument(name=name, kind="xlsx", sections=nonblank(sections))
