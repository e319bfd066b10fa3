"""CSV/TSV: each row becomes a `column: value` line, so every chunk carries its headers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from knowledge.documents import TABLE_ROWS, ParsedDocument, Section
from knowledge.parsing._shared import Progress, TextBudget, nonblank, read_text, render_record
from knowledge.parsing.limits import ParseLimits

SAMPLE_CHARS = 64 * 1024


def dialect(sample: str, name: str) -> type[csv.Dialect]:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel_tab if name.lower().endswith(".tsv") else csv.excel


def is_number(value: str) -> bool:
    try:
        float(value.replace(",", ""))
    except ValueError:
        return False
    return True


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read delimited rows; the first row names the columns unless it holds numbers."""
    budget = TextBudget(name, limits.max_text_chars)
    text = read_text(path, name=name)
    sample = text[:SAMPLE_CHARS]
    if len(text) > SAMPLE_CHARS:
        sample = sample[: sample.rfind("\n") + 1] or sample  # whole lines only
    rows = csv.reader(io.StringIO(text, newline=""), dialect(sample, name))
    first = next(rows, [])
    header = [" ".join(cell.split()) for cell in first]
    lines = []
    if any(is_number(cell) for cell in header if cell):
        header = []  # data, not names: columns are called "column 1", "column 2"…
        lines.append(render_record(header, first))
    count = 0
    for row in rows:
        count += 1
        line = render_record(header, row)
        if line:
            lines.append(budget.spend(line))
    if not count and header:  # a lone row: keep it as data
        lines.append(" | ".join(cell for cell in header if cell))
    if progress is not None:
        progress(1, 1)
    metadata = {"rows": str(count), "columns": ", ".join(h for h in header if h)}
    section = Section(text="\n".join(line for line in lines if line), meta={TABLE_ROWS: "1"})
    return ParsedDocument(name=name, kind="csv", sections=nonblank([section]), metadata=metadata)
