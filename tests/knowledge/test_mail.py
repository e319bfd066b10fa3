"""E-mail: headers in citations, HTML bodies as text, each attachment its own document."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from knowledge.base import KnowledgeBase
from knowledge.catalog import DocumentStatus
from knowledge.embedder import HashEmbedder
from knowledge.ingest import IngestDone, IngestFailed, IngestOptions
from knowledge.parsing import parse_file
from tests.knowledge.doc_files import make_pdf

LEDGER = (
    "date,account,amount,approved by\n2024-03-01,Fuel,412.80,Priya\n2024-03-04,Tolls,96.50,Marco\n"
)


def _message(
    subject: str,
    body: str,
    *,
    html: str | None = None,
    sender: str = "Ana Ruiz <ana@harbour.example>",
    date: str = "Tue, 12 Mar 2024 09:15:00 +0100",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Priya Shah <priya@harbour.example>, marco@harbour.example"
    message["Cc"] = "Finance <finance@harbour.example>"
    message["Date"] = date
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash(subject))}@harbour.example>"
    if html is None:
        message.set_content(body)
    else:
        message.set_content(body)
        message.add_alternative(html, subtype="html")
    return message


def _budget_thread(folder: Path) -> Path:
    """The first message of a thread, with a PDF and a CSV attached."""
    message = _message(
        "Q1 fleet budget",
        "Hi both,\n\nthe fleet budget for Q1 is 48,000 EUR; the fuel ledger is attached.\n\nAna",
    )
    pdf = make_pdf(
        folder / "budget.pdf",
        [("Budget", "Fleet budget Q1: 48,000 EUR."), ("Risks", "Diesel prices may rise 8%.")],
    )
    message.add_attachment(
        pdf.read_bytes(), maintype="application", subtype="pdf", filename="budget.pdf"
    )
    message.add_attachment(LEDGER.encode(), maintype="text", subtype="csv", filename="ledger.csv")
    path = folder / "budget.eml"
    path.write_bytes(message.as_bytes())
    return path


def _html_reply(folder: Path) -> Path:
    html = (
        "<html><head><style>p{color:red}</style><script>track()</script></head><body>"
        "<p>Approved. <b>Keep tolls under 100 EUR</b> a week.</p>"
        "<blockquote>the fleet budget for Q1 is 48,000 EUR</blockquote></body></html>"
    )
    message = _message(
        "RE: Fwd: Q1 fleet budget",
        "Approved. Keep tolls under 100 EUR a week.",
        html=html,
        sender="Priya Shah <priya@harbour.example>",
        date="Wed, 13 Mar 2024 17:02:00 +0100",
    )
    message.clear_content()
    message.set_content(html, subtype="html")  # an HTML-only body, as many clients send
    path = folder / "reply.eml"
    path.write_bytes(message.as_bytes())
    return path


def test_a_message_keeps_its_headers_body_and_attachments(tmp_path: Path) -> None:
    document = parse_file(_budget_thread(tmp_path))
    assert document.kind == "email"
    meta = document.metadata
    assert meta["from"] == "Ana Ruiz <ana@harbour.example>"
    assert meta["to"] == "Priya Shah <priya@harbour.example>, marco@harbour.example"
    assert meta["cc"] == "Finance <finance@harbour.example>"
    assert meta["date"] == "2024-03-12 09:15"
    assert (meta["subject"], meta["thread"]) == ("Q1 fleet budget", "Q1 fleet budget")
    [section] = document.sections
    assert section.title == "Q1 fleet budget"
    assert section.text.startswith("From: Ana Ruiz <ana@harbour.example>\nTo: Priya Shah")
    assert "the fleet budget for Q1 is 48,000 EUR" in section.text
    assert section.meta["from"] == "Ana Ruiz <ana@harbour.example>"

    pdf, csv = document.attachments
    assert (pdf.name, csv.name) == ("budget.pdf", "ledger.csv")
    assert pdf.document is not None
    assert [s.page for s in pdf.document.sections] == [1, 2]
    assert "Diesel prices may rise 8%." in pdf.document.sections[1].text
    assert csv.document is not None
    assert "account: Fuel; amount: 412.80; approved by: Priya" in csv.document.sections[0].text


def test_an_html_body_is_read_as_text_and_replies_share_the_thread(tmp_path: Path) -> None:
    document = parse_file(_html_reply(tmp_path))
    [section] = document.sections
    assert "Approved. Keep tolls under 100 EUR a week." in section.text
    assert "<b>" not in section.text
    assert "track()" not in section.text
    assert "color:red" not in section.text
    assert document.metadata["thread"] == "Q1 fleet budget"
    assert document.metadata["date"] == "2024-03-13 17:02"


def test_a_message_without_an_eml_name_is_recognised(tmp_path: Path) -> None:
    message = _budget_thread(tmp_path)
    unnamed = tmp_path / "upload"
    unnamed.write_bytes(message.read_bytes())
    assert parse_file(unnamed, name="message").kind == "email"


async def test_attachments_become_documents_linked_to_their_message(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    message = _message("Site photos", "Photos and the archive of the survey are attached.")
    message.add_attachment(b"PK\x05\x06" + b"\x00" * 18, maintype="application", subtype="zip",
                           filename="survey.zip")  # fmt: skip
    odd = files / "photos.eml"
    odd.write_bytes(message.as_bytes())
    base = await KnowledgeBase.open(
        tmp_path / "store", HashEmbedder(64), ingest_options=IngestOptions(batch_size=8)
    )
    budget, reply, photos = await base.ingest_all(
        [_budget_thread(files), _html_reply(files), odd], "ana"
    )

    assert isinstance(budget, IngestDone)
    pdf, csv = budget.attachments
    assert isinstance(pdf, IngestDone)
    assert isinstance(csv, IngestDone)
    assert (pdf.document, pdf.pages, csv.document) == (
        "budget.eml › budget.pdf",
        2,
        "budget.eml › ledger.csv",
    )
    assert isinstance(reply, IngestDone)
    assert reply.attachments == ()
    assert isinstance(photos, IngestDone)
    [archive] = photos.attachments
    assert isinstance(archive, IngestFailed)
    assert archive.document == "photos.eml › survey.zip"
    assert "survey.zip is not a file type Cadre can read" in archive.reason

    records = {r.name: r for r in await base.list_documents("ana")}
    assert records["budget.eml › budget.pdf"].status is DocumentStatus.READY
    assert records["budget.eml › budget.pdf"].pages == 2
    assert records["budget.eml › ledger.csv"].status is DocumentStatus.READY
    assert records["photos.eml › survey.zip"].status is DocumentStatus.FAILED
    assert records["photos.eml"].status is DocumentStatus.READY

    [row] = await base.search("Tolls Marco", "ana", k=1, mode="text")
    assert row.document_name == "budget.eml › ledger.csv"
    assert row.meta["attached_to"] == budget.document_id
    assert row.label() == (
        "budget.eml › ledger.csv (from Ana Ruiz <ana@harbour.example>, 2024-03-12 09:15)"
    )
    hits = await base.search("Q1 fleet budget", "ana", k=10, mode="text")
    threads = {hit.document_name: hit.meta.get("thread") for hit in hits}
    assert threads["budget.eml"] == threads["reply.eml"] == "Q1 fleet budget"
    [answer] = await base.search("keep tolls under 100 EUR a week", "ana", k=1, mode="text")
    assert answer.label() == (
        "reply.eml — RE: Fwd: Q1 fleet budget (from Priya Shah <priya@harbour.example>, "
        "2024-03-13 17:02)"
    )


@pytest.mark.parametrize("header", ["From: a@b.example", "Subject: hello"])
def test_one_header_line_does_not_make_a_text_an_email(tmp_path: Path, header: str) -> None:
    note = tmp_path / "note.txt"
    note.write_text(f"{header}\nJust a note that starts like a header.\n")
    assert parse_file(note).kind == "text"


async def test_deleting_a_message_deletes_its_attachments(tmp_path: Path) -> None:
    base = await KnowledgeBase.open(
        tmp_path / "store", HashEmbedder(64), ingest_options=IngestOptions(batch_size=8)
    )
    budget, reply = await base.ingest_all([_budget_thread(tmp_path), _html_reply(tmp_path)], "ana")
    assert isinstance(budget, IngestDone)
    assert isinstance(reply, IngestDone)
    assert len(await base.list_documents("ana")) == 4
    [row] = await base.search("412.80", "ana", k=1, mode="text")
    assert row.document_name == "budget.eml › ledger.csv"

    assert await base.delete_document("ana", budget.document_id)
    assert [r.name for r in await base.list_documents("ana")] == ["reply.eml"]
    assert await base.search("412.80", "ana", k=3, mode="text") == []
