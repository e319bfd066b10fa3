"""Each format from real files, and the broken files users upload, read in-process."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    FileTooLarge,
    KnowledgeError,
    MislabeledFile,
    ParseResourceLimit,
    UnsupportedFile,
)
from knowledge.parsing import ParseLimits, parse_file
from tests.knowledge.doc_files import (
    encrypt_pdf,
    make_chapters_pdf,
    make_docx,
    make_docx_bomb,
    make_pdf,
    make_scanned_pdf,
    make_xlsx,
    truncate,
)


@pytest.fixture(scope="module")
def chapters_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_chapters_pdf(tmp_path_factory.mktemp("pdf") / "chapters.pdf")


# ---------------------------------------------------------------- PDF


def test_pdf_keeps_page_numbers_and_outline_titles(chapters_pdf: Path) -> None:
    seen: list[tuple[int, int]] = []
    document = parse_file(
        chapters_pdf, name="chapters.pdf", progress=lambda d, t: seen.append((d, t))
    )

    assert document.kind == "pdf"
    assert document.page_count == 4
    assert [(s.page, s.title) for s in document.sections] == [
        (1, "Chapter 1"),
        (2, "Chapter 2"),
        (3, "Chapter 3"),
        (4, "Chapter 4"),
    ]
    page3 = document.sections[2]
    assert "word3" in page3.text
    assert "word2" not in page3.text
    assert document.metadata["title"] == "The Chapters"
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_pdf_heading_in_mid_page_starts_a_new_section(tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "guide.pdf",
        [
            ("Introduction", "Opening words."),
            (None, "Still the introduction, on page two."),
        ],
    )
    # A second outline entry that starts halfway down page 2 is drawn by a second file.
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.start_section("Setup")
    doc.cell(text="Setup")
    doc.ln(10)
    doc.multi_cell(0, 7, text="Install the tool first.")
    doc.start_section("Usage")
    doc.cell(text="Usage")
    doc.ln(10)
    doc.multi_cell(0, 7, text="Run it with a file name.")
    doc.output(str(tmp_path / "manual.pdf"))

    guide = parse_file(pdf)
    assert [(s.page, s.title) for s in guide.sections] == [(1, "Introduction"), (2, "Introduction")]

    manual = parse_file(tmp_path / "manual.pdf")
    assert [(s.page, s.title) for s in manual.sections] == [(1, "Setup"), (1, "Usage")]
    assert "Install the tool" in manual.sections[0].text
    assert "Run it" in manual.sections[1].text


def test_pdf_without_outline_has_pages_but_no_titles(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "plain.pdf", [(None, "First page."), (None, "Second page.")])
    document = parse_file(pdf)
    assert [(s.page, s.title) for s in document.sections] == [(1, None), (2, None)]


def test_password_protected_pdf_is_refused(tmp_path: Path, chapters_pdf: Path) -> None:
    locked = encrypt_pdf(chapters_pdf, tmp_path / "report.pdf", user_password="s3cret")
    with pytest.raises(EncryptedDocument) as caught:
        parse_file(locked, name="report.pdf")
    assert str(caught.value) == (
        "report.pdf is password-protected; remove the password and upload it again."
    )
    assert caught.value.code == "encrypted"


def test_pdf_with_only_an_owner_password_opens(tmp_path: Path, chapters_pdf: Path) -> None:
    restricted = encrypt_pdf(chapters_pdf, tmp_path / "restricted.pdf", user_password="")
    document = parse_file(restricted)
    assert [s.page for s in document.sections] == [1, 2, 3, 4]


def test_truncated_pdf_is_reported_as_damaged(tmp_path: Path, chapters_pdf: Path) -> None:
    broken = truncate(chapters_pdf, tmp_path / "cut.pdf")
    with pytest.raises(CorruptDocument, match=r"cut\.pdf could not be read as a PDF"):
        parse_file(broken)


def test_scanned_pdf_is_read_with_ocr(tmp_path: Path) -> None:
    scan = make_scanned_pdf(tmp_path / "scan.pdf")
    [section] = parse_file(scan).sections
    assert "SCANNED INVOICE 2024 TOTAL 1,234.00" in section.text
    assert (section.page, section.meta["scanned"]) == (1, "1")


def test_pdf_with_one_scanned_page_ocrs_only_that_page(tmp_path: Path) -> None:
    mixed = make_scanned_pdf(tmp_path / "mixed.pdf", text_first_page=True)
    document = parse_file(mixed)
    assert [(s.page, s.meta.get("scanned")) for s in document.sections] == [(1, None), (2, "1")]
    assert document.metadata["scanned_pages"] == "2"
    assert "pages_without_text" not in document.metadata


def test_pdf_over_the_page_limit_is_refused(chapters_pdf: Path) -> None:
    with pytest.raises(ParseResourceLimit, match="4 pages, over the limit of 2"):
        parse_file(chapters_pdf, limits=ParseLimits(max_pages=2))


def test_html_named_pdf_is_refused_as_mislabeled(tmp_path: Path) -> None:
    fake = tmp_path / "invoice.pdf"
    fake.write_text("<!DOCTYPE html><html><body><h1>Invoice</h1><p>Total: 10</p></body></html>")
    with pytest.raises(MislabeledFile) as caught:
        parse_file(fake)
    assert "invoice.pdf is not really a PDF file: its content is an HTML page" in str(caught.value)
    assert isinstance(caught.value, UnsupportedFile)


# ---------------------------------------------------------------- DOCX and XLSX


def test_docx_headings_become_titles_and_tables_are_read(tmp_path: Path) -> None:
    document = parse_file(make_docx(tmp_path / "contract.docx"))

    assert document.kind == "docx"
    assert [s.title for s in document.sections] == [
        "Supply contract",
        "Payment terms",
        "Deadlines",
    ]
    assert all(s.page is None for s in document.sections)
    payment = document.sections[1].text
    assert "pays within 30 days" in payment
    assert "- Late payments accrue 2% interest." in payment
    assert "Item: Widget; Price: 5 EUR" in payment
    assert "Item: Gadget; Price: 7 EUR" in payment
    assert "1 March 2025" in document.sections[2].text
    assert document.metadata["title"] == "Supply contract"


def test_docx_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    bomb = make_docx_bomb(tmp_path / "bomb.docx", megabytes=8)
    with pytest.raises(ParseResourceLimit, match="zip bomb") as caught:
        parse_file(bomb)
    assert "bomb.docx is too big to read safely" in str(caught.value)


def test_docx_unpacking_past_the_total_limit_is_refused(tmp_path: Path) -> None:
    contract = make_docx(tmp_path / "contract.docx")
    with pytest.raises(ParseResourceLimit, match="unpacks to more than"):
        parse_file(contract, limits=ParseLimits(max_unpacked_bytes=10_000))


def test_xlsx_sheets_become_sections_of_readable_rows(tmp_path: Path) -> None:
    document = parse_file(make_xlsx(tmp_path / "numbers.xlsx"))
    assert document.kind == "xlsx"
    assert [(s.title, s.text) for s in document.sections] == [
        ("Sales", "Region: North; Revenue: 1200\nRegion: South; Revenue: 900.5"),
        ("Costs", "Item: Rent; Cost: 500"),
    ]


# ---------------------------------------------------------------- HTML


def test_html_headings_titles_and_no_scripts(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        """<!doctype html><html><head><title>Team handbook</title>
        <style>body { color: red }</style><script>var secret = "do-not-index";</script></head>
        <body><p>Welcome <b>aboard</b>.<br>Read this first.</p>
        <h2>Holidays</h2><ul><li>25 days a year</li><li>Plus public holidays</li></ul>
        <table><tr><th>Office</th><th>City</th></tr><tr><td>HQ</td><td>Lyon</td></tr></table>
        <script>alert("also not text")</script><noscript>enable JS</noscript>
        <h3>Sick leave</h3><p>Tell your manager.</p></body></html>"""
    )
    document = parse_file(page)
    assert document.kind == "html"
    assert [s.title for s in document.sections] == [
        "Team handbook",
        "Holidays",
        "Holidays › Sick leave",
    ]
    assert document.sections[0].text == "Welcome aboard.\nRead this first."
    holidays = document.sections[1].text
    assert "- 25 days a year" in holidays
    assert "Office: HQ; City: Lyon" in holidays
    everything = " ".join(s.text for s in document.sections)
    for hidden in ("do-not-index", "alert", "color: red", "enable JS"):
        assert hidden not in everything


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<!ENTITY leaked 'FETCHED-FROM-NETWORK'>")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_html_never_fetches_or_expands_external_entities(
    tmp_path: Path, counting_server: tuple[str, list[str]]
) -> None:
    base, hits = counting_server
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    page = tmp_path / "evil.html"
    page.write_text(
        f"""<!DOCTYPE html SYSTEM "{base}/doctype.dtd" [
        <!ENTITY local SYSTEM "file://{secret}">
        <!ENTITY remote SYSTEM "{base}/entity">
        <!ENTITY % param SYSTEM "{base}/param.dtd"> %param;
        ]>
        <html><head><link rel="stylesheet" href="{base}/style.css">
        <script src="{base}/app.js"></script></head>
        <body><h1>Hello</h1><p>local: &local; remote: &remote; leaked: &leaked;</p>
        <img src="{base}/pixel.png"><iframe src="{base}/frame.html"></iframe>
        <object data="{base}/object.swf"></object></body></html>"""
    )
    document = parse_file(page)
    assert [s.title for s in document.sections] == ["Hello"]
    text = document.sections[0].text
    assert "TOP-SECRET-CONTENT" not in text
    assert "FETCHED-FROM-NETWORK" not in text
    assert hits == []


def test_html_nested_past_the_parser_limit_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.html"
    deep.write_text("<html><body>" + "<div>" * 5000 + "text" + "</div>" * 5000 + "</body></html>")
    with pytest.raises(ParseResourceLimit, match="nested too deeply"):
        parse_file(deep)


# ---------------------------------------------------------------- text formats


def test_markdown_headings_split_sections(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text(
        "Preamble line.\n\n# Install\nRun `pip install cadre`.\n\n```bash\n# not a heading\n"
        "cadre serve\n```\n\nUsage **guide**\n---\nAsk a question.\n\n## Deep *dive*\nDetails.\n"
    )
    document = parse_file(notes)
    assert document.kind == "markdown"
    assert [s.title for s in document.sections] == [
        None,
        "Install",
        "Install › Usage guide",
        "Install › Deep dive",
    ]
    assert "# not a heading" in document.sections[1].text
    assert document.sections[2].text.startswith("Usage **guide**")


def test_csv_rows_become_column_value_lines(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text('name;city;age\nAlice;Paris;30\nBob;"Berlin; Mitte";41\n')
    document = parse_file(people)
    assert document.kind == "csv"
    assert document.sections[0].text == (
        "name: Alice; city: Paris; age: 30\nname: Bob; city: Berlin; Mitte; age: 41"
    )
    assert document.metadata["rows"] == "2"


def test_csv_without_header_names_columns_by_position(tmp_path: Path) -> None:
    data = tmp_path / "readings.csv"
    data.write_text("1,20.5,ok\n2,21.0,ok\n3,19.8,low\n")
    document = parse_file(data)
    assert document.sections[0].text.splitlines()[0] == "column 1: 1; column 2: 20.5; column 3: ok"


def test_source_code_is_verbatim_and_titled_with_its_name(tmp_path: Path) -> None:
    code = "import os\n\n\ndef main() -> None:\n    print(os.getcwd())\n"
    script = tmp_path / "tool.py"
    script.write_text(code)
    document = parse_file(script, name="tool.py")
    assert document.kind == "code"
    assert [(s.title, s.text) for s in document.sections] == [("tool.py", code.rstrip())]


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1252", "The café served crème brûlée; the naïve critic called it “divine”."),
        ("shift_jis", "日本語のテキストです。これは文字コードの検出のテストです。"),
        ("utf-8", "Plain UTF-8 with an emoji 🎉 and accents: déjà vu."),
    ],
)
def test_text_is_decoded_from_its_own_charset(tmp_path: Path, encoding: str, text: str) -> None:
    file = tmp_path / "note.txt"
    file.write_bytes(f"{text}\n\nA second paragraph.".encode(encoding))
    document = parse_file(file)
    assert document.kind == "text"
    assert document.sections[0].text == f"{text}\n\nA second paragraph."


# ---------------------------------------------------------------- refusals


def test_empty_and_blank_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.md"
    blank.write_text("   \n\n\t\n")
    for file in (empty, blank):
        with pytest.raises(EmptyDocument, match=f"{file.name} is empty"):
            parse_file(file)


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "huge.txt"
    with big.open("wb") as file:  # sparse: its size is checked, its bytes never read
        file.truncate(60 * 1024 * 1024)
    with pytest.raises(FileTooLarge) as caught:
        parse_file(big)
    assert str(caught.value).startswith("huge.txt is 60.0 MB, over the 50.0 MB limit;")
    assert caught.value.code == "too_large"


def test_binary_files_are_refused_with_what_they_are(tmp_path: Path) -> None:
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + b"\x00" * 64)
    with pytest.raises(UnsupportedFile, match=r"anim\.gif is not a file type Cadre can read"):
        parse_file(gif)


def test_every_refusal_names_the_file_and_says_what_to_do(tmp_path: Path) -> None:
    cases = {
        "empty.txt": b"",
        "fake.pdf": b"<html><body>hi</body></html>",
        "blob.bin": bytes(range(256)) * 4,
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(KnowledgeError) as caught:
            parse_file(tmp_path / name)
        message = str(caught.value)
        assert message.startswith(name)
        assert message.endswith(".")
        assert caught.value.name == name
