"""Spreadsheets (.xlsx, .ods, .csv): every sheet, and every row carries its column names."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl

from knowledge.base import KnowledgeBase
from knowledge.chunking import bundled_token_counter, chunk_document
from knowledge.embedder import HashEmbedder
from knowledge.ingest import IngestDone, IngestOptions
from knowledge.parsing import parse_file

SHEETS = {
    "Fuel": [("Date", "Vehicle", "Litres", "Cost EUR"), ("2024-03-01", "Van 7", 62, 118.4),
             ("2024-03-05", "Truck 2", 180, 341.2)],
    "Tolls": [("Date", "Road", "Cost EUR"), ("2024-03-02", "A7 Marseille", 23.5)],
}  # fmt: skip


def _xlsx(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in SHEETS.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def _cell(value: object) -> str:
    if isinstance(value, (int, float)):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    return (
        f'<table:table-cell office:value-type="string"><text:p>{escape(str(value))}</text:p>'
        "</table:table-cell>"
    )


def _ods(path: Path) -> Path:
    """A LibreOffice Calc file written by hand: mimetype, manifest and content.xml."""
    tables = "".join(
        f'<table:table table:name="{title}">'
        + "".join(
            "<table:table-row>" + "".join(_cell(v) for v in row) + "</table:table-row>"
            for row in rows
        )
        + "</table:table>"
        for title, rows in SHEETS.items()
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED
        )
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def _check_sheets(path: Path, kind: str) -> None:
    document = parse_file(path)
    assert document.kind == kind
    fuel, tolls = document.sections
    assert (fuel.title, tolls.title) == ("Fuel", "Tolls")
    assert fuel.text.splitlines() == [
        "Date: 2024-03-01; Vehicle: Van 7; Litres: 62; Cost EUR: 118.4",
        "Date: 2024-03-05; Vehicle: Truck 2; Litres: 180; Cost EUR: 341.2",
    ]
    assert tolls.text == "Date: 2024-03-02; Road: A7 Marseille; Cost EUR: 23.5"
    assert dict(fuel.meta) == {
        "sheet": "Fuel",
        "columns": "Date, Vehicle, Litres, Cost EUR",
        "table_rows": "1",
    }


def test_every_sheet_of_an_excel_workbook_keeps_its_headers(tmp_path: Path) -> None:
    _check_sheets(_xlsx(tmp_path / "fleet.xlsx"), "xlsx")


def test_an_opendocument_spreadsheet_reads_like_excel(tmp_path: Path) -> None:
    _check_sheets(_ods(tmp_path / "fleet.ods"), "ods")


def test_a_csv_ledger_row_carries_its_column_names(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text("date;account;amount\n2024-03-01;Fuel;412,80\n2024-03-04;Tolls;96,50\n")
    [section] = parse_file(ledger).sections
    assert section.text.splitlines() == [
        "date: 2024-03-01; account: Fuel; amount: 412,80",
        "date: 2024-03-04; account: Tolls; amount: 96,50",
    ]


def test_a_csv_whose_rows_leave_out_empty_trailing_fields_is_read_as_a_table(
    tmp_path: Path,
) -> None:
    # Shaped like Debian's distro-info debian.csv: older releases have no LTS dates.
    releases = tmp_path / "releases.csv"
    releases.write_text(
        "version,codename,created,release,eol,eol-lts\n"
        "1.1,Buzz,1993-08-16,1996-06-17,1997-06-05\n"
        "12,Bookworm,2021-08-14,2023-06-10,2026-07-11,2028-06-30\n"
        ",Sid,1993-08-16\n"
    )
    document = parse_file(releases)
    assert document.kind == "csv"
    assert document.sections[0].text.splitlines() == [
        "version: 1.1; codename: Buzz; created: 1993-08-16; release: 1996-06-17; eol: 1997-06-05",
        "version: 12; codename: Bookworm; created: 2021-08-14; release: 2023-06-10; "
        "eol: 2026-07-11; eol-lts: 2028-06-30",
        "codename: Sid; created: 1993-08-16",
    ]


def test_a_tables_passages_hold_whole_rows_each_row_once(tmp_path: Path) -> None:
    # Stranger walk: ubuntu.csv passages began with the tail of the row before ("Gorilla;
    # series: groovy; …; eol: 2021-07-22"), and the model read its dates as the next row's.
    releases = tmp_path / "releases.csv"
    rows = [
        f"{n}.04,Codename {n},series{n},20{n:02}-01-0{n % 9 + 1},20{n:02}-04-2{n % 9}"
        for n in range(60)
    ]
    releases.write_text("version,codename,series,created,release\n" + "\n".join(rows) + "\n")
    [section] = parse_file(releases).sections

    chunks = chunk_document(parse_file(releases), bundled_token_counter())

    assert len(chunks) > 3
    lines = [line for chunk in chunks for line in chunk.text.splitlines()]
    assert lines == section.text.splitlines()  # whole rows, in order, none repeated


async def test_a_found_row_names_its_sheet_and_columns(tmp_path: Path) -> None:
    base = await KnowledgeBase.open(
        tmp_path / "store", HashEmbedder(64), ingest_options=IngestOptions(batch_size=8)
    )
    [done] = await base.ingest_all([_ods(tmp_path / "fleet.ods")], "ana")
    assert isinstance(done, IngestDone)
    [hit] = await base.search("A7 Marseille", "ana", k=1, mode="text")
    assert hit.text == "Date: 2024-03-02; Road: A7 Marseille; Cost EUR: 23.5"
    assert (hit.section, hit.meta["columns"]) == ("Tolls", "Date, Road, Cost EUR")
    assert hit.label() == "fleet.ods — Tolls"
