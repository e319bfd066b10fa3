"""OpenDocument spreadsheets (.ods, LibreOffice Calc) with python-calamine, like .xlsx."""

from __future__ import annotations

from pathlib import Path

from python_calamine import CalamineWorkbook

from knowledge.documents import ParsedDocument
from knowledge.parsing._shared import Progress, TextBudget, nonblank
from knowledge.parsing.limits import ParseLimits, check_archive
from knowledge.parsing.xlsx import sheet_section


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read every sheet's values (cached results of formulas; none are evaluated)."""
    check_archive(path, name=name, kind="an OpenDocument spreadsheet", limits=limits)
    budget = TextBudget(name, limits.max_text_chars)
    with CalamineWorkbook.from_path(str(path)) as workbook:
        names = list(workbook.sheet_names)
        sections = []
        for number, title in enumerate(names, start=1):
            rows = workbook.get_sheet_by_name(title).to_python(skip_empty_area=True)
            sections.append(sheet_section(title, rows, budget))
            if progress is not None:
                progress(number, len(names))
    return ParsedDocument(name=name, kind="ods", sections=nonblank(sections))
