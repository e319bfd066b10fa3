"""Two retrieval sets that go through the whole ingestion pipeline, files in, passages out.

- HTML sections: the project pages (README long descriptions) that PyPI packages ship in
  their `METADATA`, taken from this virtual environment, rendered to HTML as PyPI renders them
  and wrapped in a page with navigation, a sidebar and a footer to drop. 40 paraphrased
  questions, each answered by one section; a hit is a passage of that page whose heading path
  names the section.
- Multi-format: a small office's files generated here (PDF, DOCX, XLSX, CSV, EML with an
  attachment, HTML); 30 paraphrased questions, each answered by one document; a hit is a
  passage of that document.

Both are ingested by `KnowledgeBase` (sandboxed parsers, the chunker, the bundled embedder)
and searched with `KnowledgeBase.search` in each mode. Figures: hit@1, hit@5, hit@10 and
nDCG@10 with one relevant item per question (1/log2(1 + rank of the first hit)).
"""

from __future__ import annotations

import asyncio
import csv
import email.message
import email.parser
import email.policy
import html
import io
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import docx
import openpyxl
from fpdf import FPDF
from markdown_it import MarkdownIt

from knowledge.base import KnowledgeBase
from knowledge.documents import Passage
from knowledge.embedder import Embedder
from knowledge.ingest import IngestDone, Upload
from knowledge.search import DEFAULT_WEIGHTS, FusionWeights, Searcher, SearchMode

OWNER = "bench"
K = 10

# (package dist-info prefix, question, heading that answers it)
HTML_QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("tomli", "How do I read a TOML document I already have in memory as text?",
     "Parse a TOML string"),
    ("tomli", "What exception do I get when the TOML input is malformed?", "Handle invalid TOML"),
    ("tomli", "Can floats be loaded as exact decimals instead of binary floating point?",
     "Construct decimal.Decimals from TOML floats"),
    ("tomli", "Are comments kept if I load a config and write it back out?",
     "Is comment preserving round-trip parsing supported?"),
    ("tomli", "Is there a way to serialise Python data back into TOML with this package?",
     "Is there a dumps, write or encode function?"),
    ("tomli", "Which Python type does a TOML local date-time turn into?",
     "How do TOML types map into Python types?"),
    ("tomli", "How do I use the standard library parser on new Pythons and this one on old?",
     "Building a tomli/tomllib compatibility layer"),
    ("dataclasses_json", "JSON keys are camelCase but my attributes are snake_case; how to map?",
     "Encode or decode from camelCase (or kebab-case)?"),
    ("dataclasses_json", "What happens to extra keys in the input that my class does not declare?",
     "Handle unknown / extraneous fields in JSON?"),
    ("dataclasses_json", "How can one attribute be stored under a different key name in JSON?",
     "Encode or decode using a different name"),
    ("dataclasses_json", "How do I decode input where some fields may be absent?",
     "Handle missing or optional field values when decoding?"),
    ("dataclasses_json", "Can a dataclass contain a field of its own type, like a tree node?",
     "Handle recursive dataclasses?"),
    ("dataclasses_json", "I want a plain dict rather than a JSON string; which method?",
     "Encode or decode into Python lists/dictionaries rather than JSON?"),
    ("dataclasses_json", "Which field types can be converted without extra work?",
     "Supported types"),
    ("dataclasses_json", "How do I get a marshmallow schema for validation from my class?",
     "Marshmallow interop"),
    ("colorlog", "How do I switch colours off, for example when output is not a terminal?",
     "Arguments"),
    ("colorlog", "How can one log level print black text on a white background?",
     "Color escape codes"),
    ("colorlog", "Can parts of the line other than the level name get their own colours?",
     "Using secondary_log_colors"),
    ("colorlog", "How do I set up coloured logging from a logging configuration dictionary?",
     "With dictConfig"),
    ("sse_starlette", "How do I change how often keep-alive comments are sent to clients?",
     "Custom Ping Configuration"),
    ("sse_starlette", "Events reach the browser late when we run behind nginx; why?",
     "Reverse Proxy Buffering (Nginx/Apache)"),
    ("sse_starlette", "How does the server notice that the browser went away?",
     "Client Disconnection"),
    ("sse_starlette", "How do I stream query results from a database session safely?",
     "Database Streaming (Thread-Safe)"),
    ("sse_starlette", "How do open streams end cleanly when the server is shutting down?",
     "Cooperative Shutdown"),
    ("sse_starlette", "Which class sends an event whose data is serialised to JSON for me?",
     "JSONServerSentEvent"),
    ("httpx_sse", "How do I continue an event stream after the connection drops?",
     "Handling reconnections"),
    ("httpx_sse", "What is the asyncio version of the function that opens a stream?",
     "aconnect_sse"),
    ("httpx_sse", "How can I consume events from an ASGI app without starting a server?",
     "Calling into Python web apps"),
    ("httpx_sse", "What error is raised if the response is not text/event-stream?", "SSEError"),
    ("annotated_types", "How do I say a number must lie between a lower and an upper bound?",
     "Interval"),
    ("annotated_types", "How do I require a value to be divisible by a step?", "MultipleOf"),
    ("annotated_types", "How can I limit how many items a list may hold?", "MinLen, MaxLen, Len"),
    ("annotated_types", "How do I demand a datetime that carries time zone information?",
     "Timezone"),
    ("annotated_types", "How do I express an arbitrary check with my own function?", "Predicate"),
    ("annotated_types", "How should a library read these constraints out of type hints?",
     "Consuming metadata"),
    ("openai", "How do I make the client try again more times after a failure?", "Retries"),
    ("openai", "How do I set how long a request may take before it gives up?", "Timeouts"),
    ("openai", "Where do I find the identifier of a request to give to support?", "Request IDs"),
    ("openai", "How do I go through every item of a list endpoint across pages?", "Pagination"),
    ("openai", "How can I check that a webhook call really came from the provider?",
     "Verifying webhook payloads directly"),
)  # fmt: skip

_PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<header><nav><a href="/">PyPI</a> <a href="/search">Search</a> <a href="/help">Help</a>
<a href="/sponsors">Sponsors</a> <a href="/account/login">Log in</a></nav></header>
<aside><h3>Navigation</h3><ul><li><a href="#">Project description</a></li>
<li><a href="#">Release history</a></li><li><a href="#">Download files</a></li></ul></aside>
<main><article>{body}</article></main>
<footer><p>Status: all systems operational. Developed and maintained by the Python community,
for the Python community. Privacy notice. Code of conduct. Terms of use.</p></footer>
</body></html>"""


@dataclass(frozen=True)
class RetrievalSet:
    """Files to ingest and questions with how to tell a relevant passage."""

    name: str
    files: list[Upload]
    questions: list[str]
    gold: list[tuple[str, str | None]]
    """Per question: the document's name and, for section-level gold, the heading."""


def _site_packages() -> Path:
    return next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())


def _project_page(package: str) -> str:
    [metadata] = _site_packages().glob(f"{package}-*.dist-info/METADATA")
    message = email.parser.Parser().parsestr(metadata.read_text(encoding="utf-8"))
    readme = message.get_payload()
    assert isinstance(readme, str)
    body = MarkdownIt("commonmark").enable("table").render(readme)
    return _PAGE.format(title=html.escape(f"{package} · PyPI"), body=body)


def html_sections() -> RetrievalSet:
    """The HTML-section set: project pages from this environment's `METADATA` files."""
    packages = sorted({package for package, _, _ in HTML_QUESTIONS})
    files = [Upload(f"{p}.html", _project_page(p).encode()) for p in packages]
    return RetrievalSet(
        "HTML sections (PyPI project pages)",
        files,
        [question for _, question, _ in HTML_QUESTIONS],
        [(f"{p}.html", heading) for p, _, heading in HTML_QUESTIONS],
    )


def _pdf(pages: Sequence[tuple[str, str]]) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for title, text in pages:
        pdf.add_page()
        pdf.set_font("helvetica", "B", 14)
        pdf.multi_cell(0, 8, text=title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, text=text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _docx(paragraphs: Sequence[tuple[str, str]]) -> bytes:
    document = docx.Document()
    for heading, text in paragraphs:
        document.add_heading(heading, level=1)
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _eml(
    sender: str, to: str, subject: str, date: str, body: str, attachment: Upload | None
) -> bytes:
    message = email.message.EmailMessage(policy=email.policy.SMTP)
    message["From"], message["To"], message["Subject"], message["Date"] = sender, to, subject, date
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(
            attachment.data, maintype="text", subtype="plain", filename=attachment.name
        )
    return message.as_bytes()


def _html(title: str, sections: Sequence[tuple[str, str]]) -> bytes:
    body = f"<h1>{title}</h1>" + "".join(f"<h2>{h}</h2><p>{t}</p>" for h, t in sections)
    return _PAGE.format(title=title, body=body).encode()


def _office_files() -> list[Upload]:
    carrier_note = Upload(
        "carrier-rates-2025.txt",
        b"Harbour Freight rates from 1 March 2025: pallet within the city 38 euros, "
        b"regional pallet 61 euros, fuel surcharge 7.5 percent, waiting time 40 euros per hour.",
    )
    return [
        Upload("supplier-agreement.pdf", _pdf([
            ("Parties", "This supply agreement is made between Northwind Logistics and Baltic "
             "Packaging Ltd for corrugated boxes, stretch film and pallet wrap."),
            ("Termination", "Either party may terminate this agreement by giving ninety days "
             "written notice. Termination for material breach takes effect after a cure period "
             "of thirty days."),
            ("Liability", "Each party's total liability under this agreement is capped at the "
             "fees paid in the twelve months before the claim, except for gross negligence."),
        ])),
        Upload("travel-policy.pdf", _pdf([
            ("Booking", "Staff book trains for journeys under four hours; flights need a "
             "manager's approval. Economy class only."),
            ("Allowances", "The daily meal allowance abroad is 45 euros; hotel nights are "
             "reimbursed up to 140 euros in capital cities."),
        ])),
        Upload("onboarding-guide.docx", _docx([
            ("First day", "New starters collect their badge at reception at 9:00 and meet "
             "their buddy, who shows them the warehouse floor and the safety exits."),
            ("Accounts", "The IT desk creates the e-mail account and the warehouse scanner "
             "login; passwords are changed at first sign-in."),
            ("Probation", "The probation period lasts six months, with a review meeting at "
             "the end of the third month."),
        ])),
        Upload("forklift-incident-review.docx", _docx([
            ("What happened", "On 14 May a reach truck clipped rack B-12 while reversing; the "
             "upright was bent and two pallets of detergent fell. Nobody was hurt."),
            ("Root cause", "The reversing camera had been disconnected since a repair, and the "
             "aisle marking at B-12 had worn away."),
            ("Actions", "Cameras are now checked in the daily pre-use inspection and aisle "
             "markings are repainted every spring."),
        ])),
        Upload("fleet-maintenance.xlsx", _xlsx({
            "Vehicles": [["Plate", "Model", "Next service", "Odometer km"],
                         ["NW-101", "Ford Transit", "2025-04-02", 81230],
                         ["NW-102", "Mercedes Sprinter", "2025-05-19", 120455],
                         ["NW-205", "Volvo FL electric", "2025-03-11", 40210]],
            "Tyres": [["Plate", "Tyre", "Replaced on"],
                      ["NW-101", "Michelin Agilis winter", "2024-11-03"],
                      ["NW-205", "Continental Conti Hybrid", "2024-09-21"]],
        })),
        Upload("budget-2025.xlsx", _xlsx({
            "Budget": [["Department", "Item", "Amount EUR"],
                       ["Warehouse", "Racking repairs", 18000],
                       ["IT", "Scanner replacement", 26500],
                       ["HR", "Training courses", 9200],
                       ["Fleet", "Electric van lease", 54000]],
        })),
        Upload("customer-complaints.csv", _csv([
            ["Date", "Customer", "Issue", "Status"],
            ["2025-01-08", "Greenleaf Grocers", "Chilled goods arrived warm", "refunded"],
            ["2025-01-19", "Brightside Pharmacy", "Delivery left at wrong address", "open"],
            ["2025-02-02", "Tandem Bikes", "Boxes crushed in transit", "claim filed"],
        ])),
        Upload("office-move.eml", _eml(
            "facilities@northwind.example", "all-staff@northwind.example",
            "We are moving to Harbour Street", "Mon, 3 Feb 2025 09:12:00 +0100",
            "From 1 April the office moves to 27 Harbour Street, second floor. Parking is in "
            "the Quayside garage; ask reception for a permit. The old office closes on 28 March.",
            None)),
        Upload("carrier-price-increase.eml", _eml(
            "accounts@harbourfreight.example", "purchasing@northwind.example",
            "New rates from March", "Tue, 4 Feb 2025 14:30:00 +0100",
            "Dear customer, due to higher diesel and toll costs our rates change from 1 March. "
            "The new rate card is attached.", carrier_note)),
        Upload("it-helpdesk-faq.html", _html("IT helpdesk", [
            ("Resetting a password", "Use the self-service portal at reset.northwind.example; "
             "after five failed attempts the account locks for fifteen minutes."),
            ("Printer on the warehouse floor", "The label printer near dock 3 is PRN-DOCK3; "
             "if labels come out blank, replace the thermal ribbon."),
            ("VPN", "Install the WireGuard client and import the profile from the portal."),
        ])),
        Upload("parking-rules.html", _html("Parking", [
            ("Visitors", "Visitors park in bays V1 to V6 and sign in at reception."),
            ("Electric vehicles", "Charging points in bays E1 to E4 are free for staff; move "
             "your car once it is charged."),
        ])),
    ]  # fmt: skip


_OFFICE_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("How much notice do we have to give to end the packaging contract?", "supplier-agreement.pdf"),
    ("Is there a ceiling on what the box supplier owes us if something goes wrong?",
     "supplier-agreement.pdf"),
    ("Who supplies our stretch film?", "supplier-agreement.pdf"),
    ("Can I fly to a meeting or do I have to take the train?", "travel-policy.pdf"),
    ("How much can I spend on food per day on a trip abroad?", "travel-policy.pdf"),
    ("What is the maximum hotel price in a capital?", "travel-policy.pdf"),
    ("Where do new employees pick up their access card on day one?", "onboarding-guide.docx"),
    ("How long is the trial period for new hires?", "onboarding-guide.docx"),
    ("Who sets up the login for the handheld scanners?", "onboarding-guide.docx"),
    ("Why did the reach truck hit the racking?", "forklift-incident-review.docx"),
    ("Was anyone injured in the May warehouse accident?", "forklift-incident-review.docx"),
    ("What did we change after the rack collision?", "forklift-incident-review.docx"),
    ("When is the Sprinter due for its next service?", "fleet-maintenance.xlsx"),
    ("Which winter tyres are on NW-101?", "fleet-maintenance.xlsx"),
    ("What is the mileage of the electric Volvo?", "fleet-maintenance.xlsx"),
    ("How much money is set aside for new scanners this year?", "budget-2025.xlsx"),
    ("What does the electric van lease cost in the budget?", "budget-2025.xlsx"),
    ("Which customer got chilled products that were not cold?", "customer-complaints.csv"),
    ("Is the wrong-address delivery complaint resolved?", "customer-complaints.csv"),
    ("Which client reported damaged boxes?", "customer-complaints.csv"),
    ("What is the new office address?", "office-move.eml"),
    ("Where can staff park after the move?", "office-move.eml"),
    ("When does the old office close?", "office-move.eml"),
    ("Why is the haulier raising its prices?", "carrier-price-increase.eml"),
    ("What is the new fuel surcharge percentage?", "carrier-rates-2025.txt"),
    ("How much does a regional pallet cost from March?", "carrier-rates-2025.txt"),
    ("My account is locked after wrong passwords, how long do I wait?", "it-helpdesk-faq.html"),
    ("The dock label printer prints blank labels, what should I do?", "it-helpdesk-faq.html"),
    ("Where can guests leave their cars?", "parking-rules.html"),
    ("Can I charge my electric car at work?", "parking-rules.html"),
)  # fmt: skip


def office_files() -> RetrievalSet:
    """The multi-format set: PDF, DOCX, XLSX, CSV, EML (with an attachment) and HTML."""
    return RetrievalSet(
        "Multi-format office files",
        _office_files(),
        [q for q, _ in _OFFICE_QUESTIONS],
        [(name, None) for _, name in _OFFICE_QUESTIONS],
    )


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def _relevant(passage: Passage, gold: tuple[str, str | None]) -> bool:
    name, heading = gold
    # An e-mail's attachment is named after its message: "message.eml › rates.txt".
    if passage.document_name != name and not passage.document_name.endswith(f"› {name}"):
        return False
    return heading is None or _fold(heading) in _fold(passage.section or "")


async def ingest(kb: KnowledgeBase, corpus: RetrievalSet) -> None:
    """Ingest every file of `corpus`; refuse to measure a corpus that did not ingest whole."""
    outcomes = await kb.ingest_all(corpus.files, OWNER)
    failed = [o for o in outcomes if not isinstance(o, IngestDone)]
    if failed:
        raise SystemExit(f"{corpus.name}: files failed to ingest: {failed}")


async def evaluate(
    searcher: Searcher, corpus: RetrievalSet, mode: SearchMode
) -> tuple[dict[str, float], list[str]]:
    """hit@1/5/10 and nDCG@10 of `mode` search over the ingested corpus, and the questions
    whose answer was not in the top 5."""
    ranks: list[int | None] = []
    for question, gold in zip(corpus.questions, corpus.gold, strict=True):
        passages = await asyncio.to_thread(searcher.search, question, OWNER, K, mode, None)
        ranks.append(next((i for i, p in enumerate(passages, 1) if _relevant(p, gold)), None))
    n = len(ranks)
    scores = {
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "hit@10": sum(r is not None for r in ranks) / n,
        "nDCG@10": sum(1 / math.log2(1 + r) for r in ranks if r is not None) / n,
    }
    missed = [q for q, r in zip(corpus.questions, ranks, strict=True) if r is None or r > 5]
    return scores, missed


PLAIN_RRF = FusionWeights(text=1.0, vector=1.0, constant=60.0)
PREVIOUS_WEIGHTS = FusionWeights(text=1.0, vector=0.5, constant=2.0)  # before bench/fusion_grid.py
MODES: tuple[tuple[str, SearchMode, FusionWeights], ...] = (
    ("BM25 (full-text)", "text", DEFAULT_WEIGHTS),
    ("dense (vector)", "vector", DEFAULT_WEIGHTS),
    ("hybrid, plain RRF (1:1, c=60)", "hybrid", PLAIN_RRF),
    ("hybrid, previous weights (1:0.5, c=2)", "hybrid", PREVIOUS_WEIGHTS),
    (
        f"hybrid, shipped weights ({DEFAULT_WEIGHTS.text:g}:{DEFAULT_WEIGHTS.vector:g}, "
        f"c={DEFAULT_WEIGHTS.constant:g})",
        "hybrid",
        DEFAULT_WEIGHTS,
    ),
)


async def report(embedder: Embedder, folder: Path) -> str:
    """Both sets through the product's ingestion and search, as Markdown tables."""
    out = []
    for corpus in (html_sections(), office_files()):
        kb = await KnowledgeBase.open(folder / _fold(corpus.name), embedder)
        await ingest(kb, corpus)
        chunks = await asyncio.to_thread(kb.store.count, OWNER)
        lines = [
            f"**{corpus.name}** ({len(corpus.files)} files, {chunks} passages, "
            f"{len(corpus.questions)} questions)",
            "",
            "| search | hit@1 | hit@5 | hit@10 | nDCG@10 |",
            "|---|---|---|---|---|",
        ]
        missed: list[str] = []
        for label, mode, weights in MODES:
            searcher = Searcher(kb.store, kb.embedder, weights)
            scores, missed = await evaluate(searcher, corpus, mode)
            lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in scores.values()) + " |")
        if missed:  # of the last row: the shipped search
            lines.append("\nNot in the hybrid top 5: " + "; ".join(f'"{q}"' for q in missed))
        out.append("\n".join(lines))
    return "\n\n".join(out)
