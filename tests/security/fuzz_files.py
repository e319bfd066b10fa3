"""Seed files and mutation strategies for fuzzing the parsers (test_fuzz_parsers.py)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

# --- seeds: one small valid file per binary format ---------------------------------------


def _build(maker: Any, suffix: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"seed{suffix}"
        maker(path)
        return path.read_bytes()


def seed_pdf() -> bytes:
    from tests.knowledge.doc_files import make_pdf

    return _build(
        lambda p: make_pdf(p, [("Terms", "The buyer pays within 30 days.")], title="T"), ".pdf"
    )


def seed_docx() -> bytes:
    from tests.knowledge.doc_files import make_docx

    return _build(make_docx, ".docx")


def seed_xlsx() -> bytes:
    from tests.knowledge.doc_files import make_xlsx

    return _build(make_xlsx, ".xlsx")


_ODS_CONTENT = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
    '<office:body><office:spreadsheet><table:table table:name="Tolls">'
    "<table:table-row><table:table-cell><text:p>Road</text:p></table:table-cell>"
    "<table:table-cell><text:p>Fee</text:p></table:table-cell></table:table-row>"
    "<table:table-row><table:table-cell><text:p>A1</text:p></table:table-cell>"
    '<table:table-cell office:value-type="float" office:value="4.5"><text:p>4.5</text:p>'
    "</table:table-cell></table:table-row></table:table></office:spreadsheet></office:body>"
    "</office:document-content>"
)
_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)


def seed_ods() -> bytes:
    return zip_of(
        {
            "mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
            "META-INF/manifest.xml": _ODS_MANIFEST.encode(),
            "content.xml": _ODS_CONTENT.encode(),
        }
    )


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def zip_of(contents: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in contents.items():
            method = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, method)
    return buffer.getvalue()


# --- mutations ---------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` with a few bytes flipped, inserted, deleted or a span repeated or truncated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "truncate", "splice"]))
        at = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=64))]
        elif op == "repeat":
            span = bytes(data[at : at + draw(st.integers(min_value=1, max_value=64))])
            data[at:at] = span * draw(st.integers(min_value=1, max_value=20))
        elif op == "truncate" and at > 0:
            del data[at:]
        elif op == "splice":
            # A token parsers care about, dropped at a random place.
            data[at:at] = draw(st.sampled_from(SPLICES))
    return bytes(data)


SPLICES = [
    b"obj",
    b"endobj",
    b"stream\n",
    b"endstream",
    b"<<",
    b">>",
    b"[",
    b"]",
    b"/Length 999999999",
    b"/Length -1",
    b"xref\n0 99999\n",
    b"trailer",
    b"%%EOF",
    b"/Filter /FlateDecode",
    b"/Kids [1 0 R]",
    b"99999 0 R",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"<?xml",
    b"<!DOCTYPE a [<!ENTITY b 'c'>]>",
    b"&b;",
    b"\x00",
    b"\xff\xfe",
]

XML_BITS = st.sampled_from(
    [
        "<?xml version='1.0' encoding='UTF-8'?>",
        "<?xml version='1.0' encoding='bogus-9'?>",
        "<w:document xmlns:w='http://schemas.openxmlformats.org/wordprocessingml/2006/main'>",
        "<w:body>",
        "<w:p>",
        "<w:r>",
        "<w:t>",
        "</w:t>",
        "</w:r>",
        "</w:p>",
        "<w:tbl><w:tr><w:tc>",
        "<w:pStyle w:val='Heading1'/>",
        "<worksheet xmlns='http://schemas.openxmlformats.org/spreadsheetml/2006/main'>",
        "<sheetData>",
        "<row r='1'>",
        "<row r='-5'>",
        "<c r='A1' t='s'><v>0</v></c>",
        "<c r='ZZZZZ99999999' t='s'><v>99999</v></c>",
        "<c r='B1' t='n'><v>1e999</v></c>",
        "<c t='inlineStr'><is><t>x</t></is></c>",
        "<sst><si><t>hello</t></si></sst>",
        "<table:table table:name='S'>",
        "<table:table-row table:number-rows-repeated='1000000'>",
        "<table:table-cell table:number-columns-repeated='1000000'>",
        "<text:p>",
        "</text:p>",
        "<!DOCTYPE x [<!ENTITY e 'ee'>]>",
        "&e;",
        "&#0;",
        "&#xD800;",
        "<![CDATA[",
        "]]>",
        "<!--",
        "-->",
        "\x00",
        "\udcff",
        ">",
        "<",
        "&",
        '"',
    ]
)
XML_SOUP = st.lists(st.one_of(XML_BITS, st.text(max_size=20)), max_size=40).map(
    lambda parts: "".join(parts).encode("utf-8", "surrogatepass")
)


@st.composite
def member_swapped(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` (a zip) with one member's content replaced by XML soup or random bytes."""
    contents = members(seed)
    name = draw(st.sampled_from(sorted(contents)))
    contents[name] = draw(st.one_of(XML_SOUP, st.binary(max_size=200), mutated(contents[name])))
    if draw(st.booleans()):
        extra = draw(st.sampled_from(sorted(contents)))
        del contents[extra]
    return zip_of(contents)
