"""Column statistics over CSV-like tables, computed exactly (the Analyst's second tool)."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Any

from agents.calculator import approximate
from agents.errors import ToolError
from agents.tools import tool

MAX_CHARS = 2_000_000
MAX_ROWS = 100_000
MAX_COLUMNS = 200

_DELIMITERS = ",;\t|"
_MARKDOWN_RULE = re.compile(r"^\s*\|?[\s:|-]+\|?\s*$")
_GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_CURRENCY = re.compile(r"[$€£¥\s]")


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """Statistics of one numeric column; exact except the standard deviation."""

    name: str
    count: int
    missing: int
    total: Fraction
    mean: Fraction
    median: Fraction
    stdev: Fraction | None
    """Sample standard deviation (n − 1); `None` with fewer than two values."""
    minimum: Fraction
    maximum: Fraction


def parse_number(cell: str) -> Fraction | None:
    """A cell as an exact number (`1,250.50`, `$12`, `(40)`, `7%`), or `None` if it is text."""
    text = _CURRENCY.sub("", cell).rstrip("%")
    if _GROUPED.match(text):
        text = text.replace(",", "")
    if text.startswith("(") and text.endswith(")"):
        text = "-" + text[1:-1]  # accounting notation for negatives
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return Fraction(value) if value.is_finite() else None


def _rows(data: str) -> list[list[str]]:
    lines = [line for line in data.strip().splitlines() if line.strip()]
    if lines and sum(line.lstrip().startswith("|") for line in lines) > len(lines) / 2:
        # A Markdown table: drop the |---| rule and the outer pipes.
        lines = [line.strip().strip("|") for line in lines if not _MARKDOWN_RULE.match(line)]
        delimiter = "|"
    else:
        try:
            delimiter = csv.Sniffer().sniff("\n".join(lines[:20]), _DELIMITERS).delimiter
        except csv.Error:
            delimiter = max(_DELIMITERS, key=lambda d: sum(line.count(d) for line in lines[:20]))
    return [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]


def _sqrt(value: Fraction) -> Fraction:
    with localcontext() as context:
        context.prec = 40
        return Fraction((Decimal(value.numerator) / Decimal(value.denominator)).sqrt())


def _stats(name: str, cells: Sequence[str]) -> ColumnStats | None:
    values: list[Fraction] = []
    missing = 0
    for cell in cells:
        if not cell:
            missing += 1
        elif (value := parse_number(cell)) is not None:
            values.append(value)
        else:
            missing += 1
    # A column is numeric when most of its filled cells are numbers (headers repeat, notes…).
    if not values or len(values) < (len(cells) - cells.count("")) / 2:
        return None
    ordered = sorted(values)
    n = len(ordered)
    total = sum(ordered, Fraction(0))
    mean = total / n
    middle = n // 2
    median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    stdev = None
    if n > 1:
        stdev = _sqrt(sum(((v - mean) ** 2 for v in ordered), Fraction(0)) / (n - 1))
    return ColumnStats(name, n, missing, total, mean, median, stdev, ordered[0], ordered[-1])


def column_stats(data: str, columns: Sequence[str] | None = None) -> list[ColumnStats]:
    """Statistics of the numeric columns of a table given as CSV (or TSV, or Markdown)."""
    if len(data) > MAX_CHARS:
        raise ToolError(f"The table is larger than {MAX_CHARS:,} characters; send a smaller one.")
    rows = _rows(data)
    if len(rows) < 2:
        raise ToolError("The table needs a header row and at least one data row.")
    if len(rows) > MAX_ROWS + 1 or len(rows[0]) > MAX_COLUMNS:
        raise ToolError(f"Tables are limited to {MAX_ROWS:,} rows and {MAX_COLUMNS} columns.")
    header = [h or f"column {i + 1}" for i, h in enumerate(rows[0])]
    wanted = list(columns) if columns else header
    unknown = [c for c in wanted if c not in header]
    if unknown:
        raise ToolError(
            f"No column named {', '.join(unknown)}; the columns are: {', '.join(header)}."
        )
    results = []
    for name in wanted:
        index = header.index(name)
        cells = [row[index] if index < len(row) else "" for row in rows[1:]]
        if (stats := _stats(name, cells)) is not None:
            results.append(stats)
    if not results:
        raise ToolError(f"No numeric columns among: {', '.join(wanted)}.")
    return results


def show_number(value: Fraction | None) -> str:
    """A result as the model reads it: whole numbers in full, others to 6 decimals."""
    if value is None:
        return "–"
    if value.denominator == 1:
        return str(value.numerator)
    # Up to 6 decimals for a table; whole digits are never cut.
    digits = max(len(str(abs(math.trunc(value)))), 1) + 6
    return approximate(value, digits)


def render(stats: Sequence[ColumnStats]) -> str:
    """A Markdown table of column statistics."""
    lines = [
        "| column | count | sum | mean | median | stdev | min | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in stats:
        cells = [s.total, s.mean, s.median, s.stdev, s.minimum, s.maximum]
        lines.append(
            f"| {s.name} | {s.count} | " + " | ".join(show_number(c) for c in cells) + " |"
        )
    notes = [
        f"{s.name}: {s.missing} empty or non-numeric cell(s) skipped" for s in stats if s.missing
    ]
    footer = "stdev is the sample standard deviation (n − 1)."
    return "\n".join([*lines, "", *(f"Note: {n}." for n in notes), footer])


_TABLE_LINE = re.compile(r"[,;\t|]")


def find_table(text: str) -> str | None:
    """The first block of at least three table-like lines in a message, if any."""
    block: list[str] = []
    best: list[str] = []
    for line in [*text.splitlines(), ""]:
        if _TABLE_LINE.search(line) and line.strip():
            block.append(line)
            continue
        if len(block) >= 3 and len(block) > len(best):
            best = block
        block = []
    return "\n".join(best) if best else None


def _auto_statistics(request: str) -> list[dict[str, Any]]:
    table = find_table(request)
    if table is None:
        return []
    try:
        column_stats(table)
    except ToolError:
        return []
    return [{"data": table}]


@tool(auto_calls=_auto_statistics)
def column_statistics(data: str, columns: list[str] | None = None) -> str:
    """Count, sum, mean, median, standard deviation, min and max of each numeric column.

    Sums, means and medians are exact. Accepts CSV, semicolon- or tab-separated text and
    Markdown tables; the first row must be the header.

    Args:
        data: The table as text, header row first.
        columns: Only these columns (by header name); every numeric column when omitted.
    """
    return render(column_stats(data, columns))
