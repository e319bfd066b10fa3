"""The file type comes from the content; the name only breaks ties between kinds of text."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from knowledge.errors import EmptyDocument, EncryptedDocument, MislabeledFile, UnsupportedFile
from knowledge.sniff import HEAD_BYTES, decode_text, sniff
from tests.knowledge.doc_files import make_chapters_pdf, make_docx, make_xlsx


def _file(tmp_path: Path, content: str | bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_binary_documents_are_known_whatever_their_name(tmp_path: Path) -> None:
    pdf = make_chapters_pdf(tmp_path / "a.pdf", count=1)
    docx = make_docx(tmp_path / "b.docx")
    xlsx = make_xlsx(tmp_path / "c.xlsx")
    for source, kind in ((pdf, "pdf"), (docx, "docx"), (xlsx, "xlsx")):
        for name in ("upload", "upload.bin", "upload.txt"):
            assert sniff(source, name=name) == kind


def test_pdf_with_junk_before_the_header_is_still_a_pdf(tmp_path: Path) -> None:
    pdf = make_chapters_pdf(tmp_path / "a.pdf", count=1)
    shifted = _file(tmp_path, b"\r\n\r\n" + pdf.read_bytes(), "shifted")
    assert sniff(shifted, name="shifted") == "pdf"


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("page.txt", "<!DOCTYPE html><html><body><p>hi</p></body></html>", "html"),
        ("page", "<?xml version='1.0'?>\n<html><body>x</body></html>", "html"),
        ("page.htm", "<p>a fragment</p><div>with tags</div>", "html"),
        ("notes", "# Title\n\nSome *text*.\n\n- a point\n- another\n", "markdown"),
        ("notes.md", "Just prose, no markup at all.", "markdown"),
        ("table", "id,name,score\n1,ann,3\n2,bob,4\n3,cid,5\n", "csv"),
        ("table.tsv", "id\tname\n1\tann\n", "csv"),
        # Trailing empty fields left out, as exports do: a table when the extension says so.
        ("releases.csv", "version,name,released,eol\n1.1,Buzz,1996\n7,Wheezy,2013,2016\n", "csv"),
        ("releases", "version,name,released,eol\n1.1,Buzz,1996\n7,Wheezy,2013,2016\n", "text"),
        ("script", "#!/bin/sh\necho hello\n", "code"),
        ("module", "import os\nfrom sys import argv\n\ndef main():\n    pass\n", "code"),
        ("config.yaml", "key: value\nother: 2\n", "code"),
        ("Makefile", "all:\n\techo hi\n", "code"),
        ("letter", "Dear Ann, thanks for the visit. See you soon, Bob.", "text"),
        ("letter.txt", "# not a heading in a .txt\n- nor a list", "text"),
        ("prose", "One, two, three.\nFour, five six.\nSeven eight, nine, ten, eleven.", "text"),
    ],
)
def test_text_kinds(tmp_path: Path, name: str, content: str, kind: str) -> None:
    assert sniff(_file(tmp_path, content, name), name=name) == kind


def test_name_promising_a_pdf_over_html_is_mislabeled(tmp_path: Path) -> None:
    path = _file(tmp_path, "<html><body><h1>Not a PDF</h1></body></html>", "report.pdf")
    with pytest.raises(MislabeledFile) as caught:
        sniff(path, name="report.pdf")
    assert str(caught.value).startswith(
        "report.pdf is not really a PDF file: its content is an HTML page."
    )
    assert caught.value.code == "mislabeled"


def test_word_file_named_pdf_is_mislabeled(tmp_path: Path) -> None:
    docx = make_docx(tmp_path / "real.docx")
    with pytest.raises(MislabeledFile, match="its content is a Word document"):
        sniff(docx, name="scan.pdf")


def test_pdf_named_docx_is_mislabeled(tmp_path: Path) -> None:
    pdf = make_chapters_pdf(tmp_path / "real.pdf", count=1)
    with pytest.raises(MislabeledFile, match=r"not really a Word \(\.docx\) file"):
        sniff(pdf, name="contract.docx")


def test_other_binaries_are_unsupported_and_named(tmp_path: Path) -> None:
    gif = _file(tmp_path, b"GIF89a" + b"\x00" * 32)
    with pytest.raises(UnsupportedFile, match=r"it is an image \(gif\)"):
        sniff(gif, name="anim.gif")
    png = _file(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32, "photo")
    assert sniff(png, name="photo.png") == "image"  # pictures are read with OCR
    noise = _file(tmp_path, bytes(range(256)) * 16, "noise")
    with pytest.raises(UnsupportedFile, match="binary data"):
        sniff(noise, name="noise")


def test_zip_archives_are_told_apart_by_their_members(tmp_path: Path) -> None:
    plain = tmp_path / "files.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("a.txt", "hello")
    with pytest.raises(UnsupportedFile, match="a zip archive; unzip it"):
        sniff(plain, name="files.zip")
    slides = tmp_path / "deck.pptx"
    with zipfile.ZipFile(slides, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("ppt/presentation.xml", "<p/>")
    with pytest.raises(UnsupportedFile, match="PowerPoint"):
        sniff(slides, name="deck.pptx")


def test_old_office_files_and_encrypted_office_files(tmp_path: Path) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    legacy = _file(tmp_path, ole + b"W\x00o\x00r\x00d\x00" + b"\x00" * 512, "old.doc")
    with pytest.raises(UnsupportedFile, match=r"old-format Office file"):
        sniff(legacy, name="old.doc")
    # Word and Excel put a password-protected file in an OLE2 container with this stream.
    locked = _file(tmp_path, ole + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 64)
    with pytest.raises(EncryptedDocument, match=r"locked\.docx is password-protected"):
        sniff(locked, name="locked.docx")


def test_an_outlook_message_is_named_and_the_way_out_is_said(tmp_path: Path) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    # An OLE2 directory entry naming the subject stream (PR_SUBJECT, Unicode) of a message.
    directory = "__substg1.0_0037001F".encode("utf-16-le") + b"\x00" * 88
    message = _file(tmp_path, ole + directory, "Re quarterly figures")
    for name in ("Re quarterly figures", "Re quarterly figures.msg"):
        with pytest.raises(UnsupportedFile, match=r"an Outlook message \(\.msg\)") as refused:
            sniff(message, name=name)
        assert "Save As › HTML" in str(refused.value)
        assert ".eml" in str(refused.value)
    renamed = _file(tmp_path, ole + b"\x00" * 512, "mail.msg")
    with pytest.raises(UnsupportedFile, match=r"Outlook message"):
        sniff(renamed, name="mail.msg")


def test_empty_file_is_empty(tmp_path: Path) -> None:
    with pytest.raises(EmptyDocument):
        sniff(_file(tmp_path, b""), name="nothing.txt")


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1252", "Déjà vu: the naïve café owner’s “special” crème brûlée costs 5€."),
        ("cp1252", "Il était une fois, à côté de la forêt, un garçon très âgé."),
        ("cp1250", "Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig."),
        ("cp1251", "Привет, как дела? Это тестовый текст на русском языке."),
        ("shift_jis", "日本語のテキストです。これは文字コードの検出のテストです。"),
        ("utf-16", "UTF-16 with a byte-order mark: ça marche."),
        ("utf-8", "Ünïcödé everywhere ✓"),
    ],
)
def test_legacy_encodings_decode_to_the_original_text(encoding: str, text: str) -> None:
    assert decode_text(text.encode(encoding)) == text


def test_multibyte_character_cut_by_the_sniff_window_is_still_text(tmp_path: Path) -> None:
    # "é" is two bytes in UTF-8; put one across the end of the sniffed head.
    content = "a" * (HEAD_BYTES - 1) + "é" * 10
    assert sniff(_file(tmp_path, content, "long"), name="long") == "text"
