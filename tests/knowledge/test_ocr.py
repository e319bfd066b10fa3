"""Scans and photos: OCR'd offline, page numbers kept, marked as scanned in citations."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from knowledge.base import KnowledgeBase
from knowledge.catalog import DocumentStatus
from knowledge.embedder import HashEmbedder
from knowledge.errors import NoExtractableText, ParseResourceLimit, ParseTimeout
from knowledge.ingest import IngestDone, IngestFailed, IngestOptions
from knowledge.parsing import ParseLimits, parse_file
from knowledge.sandbox import ParseSandbox
from tests.knowledge import scans

INVOICE_TEXT = "\n".join(scans.INVOICE)


def _text(document: object) -> str:
    return "\n".join(section.text for section in document.sections)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def invoice_scan() -> Image.Image:
    return scans.render_page(scans.INVOICE)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_a_scanned_picture_is_read_in_every_format(
    tmp_path: Path, invoice_scan: Image.Image, suffix: str
) -> None:
    path = scans.save_image(invoice_scan, tmp_path / f"invoice{suffix}")
    document = parse_file(path)
    text = _text(document)
    assert document.kind == "image"
    assert "Total due: EUR 1,284.50 by 30 April 2024" in text
    assert "48213 kWh" in text
    assert scans.character_error_rate(INVOICE_TEXT, text) < 0.05
    [section] = document.sections
    assert section.page is None  # a single picture has no pages
    assert section.meta["scanned"] == "1"
    assert "low_confidence" not in section.meta


def test_a_phone_photo_of_a_whiteboard_is_read(tmp_path: Path) -> None:
    path = scans.save_image(scans.photo_of(scans.WHITEBOARD), tmp_path / "board.jpg")
    text = _text(parse_file(path))
    assert "Deploy freeze starts Friday 17:00" in text
    assert "billing migration: Priya" in text


def test_each_page_of_a_multipage_tiff_keeps_its_number(tmp_path: Path) -> None:
    pages = [scans.render_page(scans.INVOICE), scans.render_page(scans.WHITEBOARD, seed=5)]
    document = parse_file(scans.save_tiff_pages(pages, tmp_path / "stack.tiff"))
    assert [s.page for s in document.sections] == [1, 2]
    assert "Harbour Logistics" in document.sections[0].text
    assert "Sprint 14 retro" in document.sections[1].text
    assert document.page_count == 2


def test_an_image_only_pdf_is_read_in_the_sandbox_page_by_page(tmp_path: Path) -> None:
    pages = [scans.render_page(scans.INVOICE), scans.render_page(scans.WHITEBOARD, seed=7)]
    pdf = scans.image_only_pdf(pages, tmp_path / "scan.pdf")
    # The file may take longer than `timeout_s` in all: each OCR'd page adds its own time.
    limits = ParseLimits(timeout_s=5.0, ocr_page_timeout_s=60.0)
    with ParseSandbox(workers=1) as sandbox:
        document = sandbox.parse(pdf, limits=limits)
    assert [s.page for s in document.sections] == [1, 2]
    assert all(s.meta["scanned"] == "1" for s in document.sections)
    assert "Meter reading on 12 March 2024: 48213 kWh" in document.sections[0].text
    assert "Owner of the billing migration: Priya" in document.sections[1].text
    assert document.metadata["scanned_pages"] == "1, 2"


def test_a_mixed_pdf_ocrs_only_the_page_without_a_text_layer(
    tmp_path: Path, invoice_scan: Image.Image
) -> None:
    pdf = scans.mixed_pdf(
        tmp_path / "contract.pdf", "Supply contract between Acme and Globex.", invoice_scan
    )
    document = parse_file(pdf)
    assert [(s.page, s.meta.get("scanned")) for s in document.sections] == [
        (1, None),
        (2, "1"),
        (3, None),
    ]
    assert document.sections[0].text == "Supply contract between Acme and Globex."
    assert "Total due: EUR 1,284.50" in document.sections[1].text
    assert document.metadata["scanned_pages"] == "2"


def test_a_barely_legible_fax_is_flagged_as_low_confidence(tmp_path: Path) -> None:
    page = scans.render_page(scans.INVOICE)
    fax = page.resize((page.width // 8, page.height // 8), Image.Resampling.BILINEAR)  # ~25 DPI
    document = parse_file(scans.save_image(fax, tmp_path / "fax.png"))
    [section] = document.sections
    assert section.meta["scanned"] == "1"
    assert section.meta["low_confidence"] == "1"
    assert float(section.meta["ocr_confidence"]) < 0.9


def test_a_picture_without_text_fails_with_its_reason(tmp_path: Path) -> None:
    blank = scans.save_image(scans.render_page([]), tmp_path / "blank.png")
    with pytest.raises(NoExtractableText, match=r"blank\.png has no extractable text") as caught:
        parse_file(blank)
    assert caught.value.code == "no_text"
    empty_scan = scans.image_only_pdf([scans.render_page([])], tmp_path / "empty-scan.pdf")
    with pytest.raises(NoExtractableText, match="OCR"):
        parse_file(empty_scan)


def test_ocr_stops_at_the_page_limit(tmp_path: Path, invoice_scan: Image.Image) -> None:
    pdf = scans.image_only_pdf([invoice_scan, invoice_scan], tmp_path / "two.pdf")
    with pytest.raises(ParseResourceLimit, match="more than 1 scanned pages"):
        parse_file(pdf, limits=ParseLimits(max_ocr_pages=1))


def test_ocr_in_the_sandbox_is_stopped_by_its_own_limits(
    tmp_path: Path, invoice_scan: Image.Image
) -> None:
    scan = scans.save_image(invoice_scan, tmp_path / "scan.png")
    notes = tmp_path / "notes.txt"
    notes.write_text("Plain notes about the invoice.")
    with ParseSandbox(workers=1) as sandbox:
        # The OCR models need ~600 MB: allowed 64 MB (the cap never drops below
        # `memory_bytes`), the worker cannot load them, and only this file fails.
        small = 64 * 1024 * 1024
        with pytest.raises(ParseResourceLimit, match=r"scan\.png is too big to read safely"):
            sandbox.parse(scan, limits=ParseLimits(memory_bytes=small, ocr_memory_bytes=small))
        assert sandbox.parse(notes).kind == "text"
        # No time for a page: the worker is killed mid-OCR and the next file gets a new one.
        with pytest.raises(ParseTimeout, match=r"Reading scan\.png took longer than"):
            sandbox.parse(scan, limits=ParseLimits(timeout_s=0.5, ocr_page_timeout_s=0.01))
        assert sandbox.parse(notes).kind == "text"
        assert "48213 kWh" in _text(sandbox.parse(scan))


async def test_citations_of_a_scanned_page_say_so(
    tmp_path: Path, invoice_scan: Image.Image
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    mixed = scans.mixed_pdf(
        files / "contract.pdf", "Supply contract between Acme and Globex.", invoice_scan
    )
    blank = scans.save_image(scans.render_page([]), files / "blank.png")
    base = await KnowledgeBase.open(
        tmp_path / "store", HashEmbedder(64), ingest_options=IngestOptions(batch_size=8)
    )
    done, failed = await base.ingest_all([mixed, blank], "ana")
    assert isinstance(done, IngestDone)
    assert done.pages == 3
    assert isinstance(failed, IngestFailed)
    assert failed.code == "no_text"
    assert "blank.png has no extractable text" in failed.reason

    [hit] = await base.search("Harbour Logistics total due", "ana", k=1, mode="text")
    assert (hit.page, hit.scanned) == (2, True)
    assert hit.label() == "contract.pdf, page 2, scanned"
    [typed] = await base.search("Acme Globex supply contract", "ana", k=1, mode="text")
    assert typed.label() == "contract.pdf, page 1"
    records = {r.name: r for r in await base.list_documents("ana")}
    assert records["contract.pdf"].status is DocumentStatus.READY
    assert records["blank.png"].status is DocumentStatus.FAILED
