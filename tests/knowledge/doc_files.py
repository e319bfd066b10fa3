"""Real documents built for the parsing tests: good ones and hostile ones."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import docx
import openpyxl
from fpdf import FPDF
from PIL import Image, ImageDraw
from pypdf import PdfWriter

Page = tuple[str | None, str]
"""(heading starting on the page or None, body text)."""


def make_pdf(path: Path, pages: Sequence[Page], *, title: str | None = None) -> Path:
    """A PDF with one body per page; headings are drawn and put in the outline."""
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    for heading, body in pages:
        pdf.add_page()
        if heading:
            pdf.start_section(heading)
            pdf.set_font("helvetica", size=18)
            pdf.cell(text=heading)
            pdf.ln(12)
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 7, text=body)
    pdf.output(str(path))
    return path


def make_chapters_pdf(path: Path, count: int = 4) -> Path:
    """`count` pages, page N titled "Chapter N" and holding the code word `wordN`."""
    pages = [
        (f"Chapter {n}", f"This is page {n}. The code word for page {n} is word{n}. " * 4)
        for n in range(1, count + 1)
    ]
    return make_pdf(path, pages, title="The Chapters")


def encrypt_pdf(source: Path, target: Path, *, user_password: str) -> Path:
    """A copy of `source` that needs `user_password` to open ("" = owner password only)."""
    writer = PdfWriter(clone_from=str(source))
    writer.encrypt(user_password=user_password, owner_password="owner-pw", algorithm="AES-256")
    with target.open("wb") as file:
        writer.write(file)
    return target


def make_scanned_pdf(path: Path, *, text_first_page: bool = False) -> Path:
    """A PDF whose (last) page is only a picture of text, as a scanner makes it."""
    image = Image.new("RGB", (600, 200), "white")
    ImageDraw.Draw(image).text((20, 80), "SCANNED INVOICE 2024 TOTAL 1,234.00", fill="black")
    pdf = FPDF()
    if text_first_page:
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 7, text="A typed cover page with real text on it.")
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=180)
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    """A Word file with a title, two headed sections, a bullet and a price table."""
    document = docx.Document()
    document.core_properties.title = "Supply contract"
    document.add_heading("Supply contract", 0)
    document.add_paragraph("This contract is between Acme and Globex.")
    document.add_heading("Payment terms", 1)
    document.add_paragraph("The buyer pays within 30 days of the invoice.")
    document.add_paragraph("Late payments accrue 2% interest.", style="List Bullet")
    table = document.add_table(rows=3, cols=2)
    for r, row in enumerate([("Item", "Price"), ("Widget", "5 EUR"), ("Gadget", "7 EUR")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Deadlines", 1)
    document.add_paragraph("Delivery is due by 1 March 2025.")
    document.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    """A workbook with two sheets of rows under a header."""
    workbook = openpyxl.Workbook()
    sales = workbook.active
    assert sales is not None
    sales.title = "Sales"
    sales.append(["Region", "Revenue"])
    sales.append(["North", 1200.0])
    sales.append(["South", 900.5])
    costs = workbook.create_sheet("Costs")
    costs.append(["Item", "Cost"])
    costs.append(["Rent", 500])
    workbook.save(str(path))
    return path


def make_docx_bomb(path: Path, *, megabytes: int = 64) -> Path:
    """A valid-looking DOCX whose document.xml inflates ~1000:1 to `megabytes` MB."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with zf.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(b'<?xml version="1.0"?><w:document><w:body>')
            block = b" " * (1024 * 1024)
            for _ in range(megabytes):
                member.write(block)
            member.write(b"</w:body></w:document>")
    return path


def truncate(source: Path, target: Path, fraction: float = 0.5) -> Path:
    """The first `fraction` of `source`'s bytes, as an interrupted download leaves it."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target
