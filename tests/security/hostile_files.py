"""Hostile documents, built at test time: PDF bombs and loops, zip bombs, zip-slip names and
XML entity tricks in Word, Excel, HTML and e-mail.

Each builder writes one file and returns its path. A `canary` is a file on the server's disk
whose text must never reach a document (external entities naming it).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from email.message import EmailMessage
from pathlib import Path

from pypdf import PdfWriter

from tests.knowledge.doc_files import make_docx, make_docx_bomb, make_xlsx

LAUGHS = """<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>"""
"""The billion laughs: ten levels of ten references, 3 GB of "lol" from under 1 KB."""

LAUGH = "&lol9;"


def external_entity(canary: Path) -> str:
    """A DTD whose entity `xxe` is the canary file's content (if a parser resolves it)."""
    return f'<!DOCTYPE r [ <!ENTITY xxe SYSTEM "file://{canary}"> ]>'


# -- PDF -----------------------------------------------------------------------------------


def pdf_with_pages(path: Path, pages: int) -> Path:
    """A real PDF of `pages` blank pages (a few bytes each)."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    with path.open("wb") as out:
        writer.write(out)
    return path


def _pdf(path: Path, objects: list[bytes]) -> Path:
    """A PDF from raw object bodies (object 1 is the catalog), with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    path.write_bytes(out.getvalue())
    return path


def pdf_page_tree_loop(path: Path) -> Path:
    """A page tree that claims a billion pages and lists itself as its own child."""
    return _pdf(
        path,
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1000000000 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        ],
    )


def pdf_flate_bomb(path: Path, megabytes: int = 1024) -> Path:
    """One page whose content stream inflates ~1000:1 to `megabytes` MB of spaces."""
    packer = zlib.compressobj(9)
    block = b" " * (1024 * 1024)
    packed = b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
    return _pdf(
        path,
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
            stream + packed + b"\nendstream",
        ],
    )


def pdf_deeply_nested(path: Path, depth: int = 200_000) -> Path:
    """A page whose resources hold arrays nested `depth` deep (recursive parsers overflow)."""
    nested = b"[" * depth + b"]" * depth
    return _pdf(
        path,
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources 4 0 R >>",
            b"<< /Deep " + nested + b" >>",
        ],
    )


# -- Office (zip) --------------------------------------------------------------------------


def _rewrite_zip(source: Path, target: Path, changes: dict[str, bytes]) -> Path:
    """A copy of the zip at `source` with members replaced or added."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            if item.filename not in changes:
                copy.writestr(item, original.read(item.filename))
        for member, data in changes.items():
            copy.writestr(member, data)
    return target


def docx_zip_bomb(path: Path) -> Path:
    """document.xml inflating ~1000:1 to 300 MB (past the unpacked-size limit too)."""
    return make_docx_bomb(path, megabytes=300)


def docx_zip_slip(path: Path, scratch: Path) -> Path:
    """A readable Word document with extra members named to escape an unpacking folder."""
    return _rewrite_zip(
        make_docx(scratch / "slip-source.docx"),
        path,
        {"../../cadre-zip-slip.txt": b"escaped", "/tmp/cadre-zip-slip-abs.txt": b"escaped"},
    )


_WORD = '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'


def _document_xml(doctype: str, reference: str) -> bytes:
    body = f"<w:body><w:p><w:r><w:t>Quarterly notes {reference}</w:t></w:r></w:p></w:body>"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n{_WORD}{body}</w:document>'.encode()


def docx_with_entities(path: Path, scratch: Path, doctype: str, reference: str) -> Path:
    """A Word document whose main part declares `doctype` and uses `reference` in its text."""
    return _rewrite_zip(
        make_docx(scratch / f"source-{path.name}"),
        path,
        {"word/document.xml": _document_xml(doctype, reference)},
    )


def xlsx_with_entities(path: Path, scratch: Path, doctype: str, reference: str) -> Path:
    """An Excel workbook whose shared strings declare `doctype` and use `reference`."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    strings = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n'
        f'<sst xmlns="{main}" count="1" uniqueCount="1"><si><t>Budget {reference}</t></si></sst>'
    )
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="{main}"><sheetData>'
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>'
    )
    return _rewrite_zip(
        make_xlsx(scratch / f"source-{path.name}"),
        path,
        {"xl/sharedStrings.xml": strings.encode(), "xl/worksheets/sheet1.xml": sheet.encode()},
    )


# -- HTML and e-mail -----------------------------------------------------------------------


def html_with_entities(path: Path, doctype: str, reference: str) -> Path:
    """An XHTML-looking page with an internal DTD subset and an entity in its text."""
    path.write_text(
        f'<?xml version="1.0"?>\n{doctype}\n<html><head><title>Report</title></head>'
        f"<body><h1>Report</h1><p>Findings {reference}</p></body></html>"
    )
    return path


def eml_with_entities(path: Path, scratch: Path, canary: Path) -> Path:
    """A message whose HTML body uses an external entity and whose attachment is a billion
    laughs Word document."""
    message = EmailMessage()
    message["From"] = "mallory@example.com"
    message["To"] = "admin@example.com"
    message["Subject"] = "Invoice"
    message.set_content("Please see the attached invoice.")
    message.add_alternative(
        f'<?xml version="1.0"?>\n{external_entity(canary)}\n'
        "<html><body><p>Invoice &xxe;</p></body></html>",
        subtype="html",
    )
    laughs = docx_with_entities(scratch / "laughs-attached.docx", scratch, LAUGHS, f"due {LAUGH}")
    message.add_attachment(
        laughs.read_bytes(),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="invoice.docx",
    )
    path.write_bytes(bytes(message))
    return path
