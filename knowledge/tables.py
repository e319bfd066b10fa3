"""Whole tables from a spreadsheet's original file (CSV, Excel, OpenDocument), every row.

Retrieval gives an agent a few rows; a total or an average needs all of them. These are read
from the kept original with the same libraries and safety checks as ingestion (the file was
already parsed once, inside the sandbox, before it became a document), as text cells the
caller turns into numbers, so nothing here rounds or guesses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from python_calamine import CalamineWorkbook

from knowledge.errors import FileTooLarge, UnsupportedFile
from knowledge.parsing._shared import TextBudget, read_text
from knowledge.parsing.csv import SAMPLE_CHARS, dialect, is_number
from knowledge.parsing.limits import ParseLimits, check_archive
from knowledge.parsing.xlsx import cell_text, open_workbook
from knowledge.sniff import sniff

SPREADSHEET_KINDS = ("csv", "xlsx", "ods")
"""Document kinds whose originals hold tables."""


@dataclass(frozen=True, slots=True)
class Table:
    """One sheet (or a CSV file): named columns and every data row, as text cells."""

    sheet: str
    """The sheet's name; the file's name for CSV."""
    columns: tuple[str, ...]
    """Column names from the header row; `column n` where a header cell is empty."""
    rows: tuple[tuple[str, ...], ...]
    """Data rows, each exactly as long as `columns`; blank rows are left out."""


def _table(sheet: str, rows: Iterable[Sequence[str]], budget: TextBudget, *, header: bool) -> Table:
    body: list[list[str]] = []
    names: list[str] | None = None if header else []
    for raw in rows:
        row = [" ".join(cell.split()) for cell in raw]
        if not any(row):
            continue
        if names is None:
            names = row
            continue
        budget.spend(" ".join(row))
        body.append(row)
    names = names or []
    width = max([len(names), *(len(row) for row in body)])
    columns = tuple(
        names[i] if i < len(names) and names[i] else f"column {i + 1}" for i in range(width)
    )
    padded = tuple(tuple(row + [""] * (width - len(row))) for row in body)
    return Table(sheet, columns, padded)


def _csv_tables(path: Path, name: str, budget: TextBudget) -> list[Table]:
    text = read_text(path, name=name)
    sample = text[:SAMPLE_CHARS]
    if len(text) > SAMPLE_CHARS:
        sample = sample[: sample.rfind("\n") + 1] or sample
    rows = list(csv.reader(io.StringIO(text, newline=""), dialect(sample, name)))
    # As at ingestion: a first row of numbers is data, not column names.
    header = not any(is_number(cell) for cell in (rows[0] if rows else []) if cell.strip())
    return [_table(name, rows, budget, header=header)]


def _xlsx_tables(path: Path, budget: TextBudget) -> list[Table]:
    with open_workbook(path) as workbook:
        tables = []
        for sheet in workbook.worksheets:
            if hasattr(sheet, "reset_dimensions"):  # ignore a declared (maybe huge) used range
                sheet.reset_dimensions()
            rows = ([cell_text(v) for v in values] for values in sheet.iter_rows(values_only=True))
            tables.append(_table(sheet.title, rows, budget, header=True))
        return tables


def _ods_tables(path: Path, budget: TextBudget) -> list[Table]:
    with CalamineWorkbook.from_path(str(path)) as workbook:
        return [
            _table(
                title,
                (
                    [cell_text(v) for v in values]
                    for values in workbook.get_sheet_by_name(title).to_python(skip_empty_area=True)
                ),
                budget,
                header=True,
            )
            for title in workbook.sheet_names
        ]


def read_tables(path: Path, *, name: str, limits: ParseLimits | None = None) -> list[Table]:
    """Every sheet of the spreadsheet at `path` (one table for CSV), sheets in file order.

    Raises `UnsupportedFile` when the file is no spreadsheet, and the ingestion errors
    (`FileTooLarge`, `ParseResourceLimit`, `CorruptDocument`) past the same limits.
    """
    limits = limits or ParseLimits()
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise FileTooLarge(name, size, limits.max_file_bytes)
    kind = sniff(path, name=name)
    budget = TextBudget(name, limits.max_text_chars)
    if kind == "csv":
        return _csv_tables(path, name, budget)
    if kind == "xlsx":
        check_archive(path, name=name, kind="an Excel workbook", limits=limits)
        return [t for t in _xlsx_tables(path, budget) if t.rows or t.columns]
    if kind == "ods":
        check_archive(path, name=name, kind="an OpenDocument spreadsheet", limits=limits)
        return [t for t in _ods_tables(path, budget) if t.rows or t.columns]
    raise UnsupportedFile(name, "not a spreadsheet (only CSV, Excel and OpenDocument sheets are)")
