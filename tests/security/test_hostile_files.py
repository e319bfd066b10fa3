"""Hostile files through the real ingestion path: PDF bombs and loops, zip bombs, zip-slip
names, XML entity tricks in Word, Excel, HTML and e-mail.

First each file through the parse sandbox (fast, every run), then all of them uploaded to a
real `cadre serve` as a person would: each is refused with a sentence naming the file, the
refusal is logged, the server keeps serving, and the document read before is still there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from knowledge.errors import CorruptDocument, KnowledgeError, ParseResourceLimit, UnsafeDocument
from knowledge.parsing import ParseLimits
from knowledge.sandbox import ParseSandbox
from tests.models.openai_server import FakeOpenAI, fake_openai, text
from tests.security import hostile_files as hostile
from tests.support.chainlit_client import ChainlitClient, dumps
from tests.support.cli import cadre
from tests.support.server import RunningServer, cadre_server

CANARY_TEXT = "CANARY-7731-SERVER-SECRET"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Maker = Callable[[Path, Path, Path], Path]
"""(target, scratch folder, canary file) -> the hostile file."""

# name -> (builder, upload MIME type, the refusal's class, words the person must read)
REFUSED: dict[str, tuple[Maker, str, type[KnowledgeError], str]] = {
    "pages.pdf": (
        lambda p, _s, _c: hostile.pdf_with_pages(p, 2_001),
        "application/pdf",
        ParseResourceLimit,
        "it has 2,001 pages, over the limit of 2,000",
    ),
    "loop.pdf": (
        lambda p, _s, _c: hostile.pdf_page_tree_loop(p),
        "application/pdf",
        CorruptDocument,
        "could not be read as a PDF",
    ),
    "flate.pdf": (
        lambda p, _s, _c: hostile.pdf_flate_bomb(p),
        "application/pdf",
        ParseResourceLimit,
        "page 1 unpacks to too much data (it may be a decompression bomb)",
    ),
    "deep.pdf": (
        lambda p, _s, _c: hostile.pdf_deeply_nested(p),
        "application/pdf",
        CorruptDocument,
        "could not be read as a PDF",
    ),
    "bomb.docx": (
        lambda p, _s, _c: hostile.docx_zip_bomb(p),
        DOCX,
        ParseResourceLimit,
        "(it may be a zip bomb)",
    ),
    "slip.docx": (
        lambda p, s, _c: hostile.docx_zip_slip(p, s),
        DOCX,
        UnsafeDocument,
        "its part '../../cadre-zip-slip.txt' is named to escape the folder",
    ),
    "xxe.docx": (
        lambda p, s, c: hostile.docx_with_entities(p, s, hostile.external_entity(c), "&xxe;"),
        DOCX,
        UnsafeDocument,
        "its part 'word/document.xml' declares XML entities",
    ),
    "laughs.docx": (
        lambda p, s, _c: hostile.docx_with_entities(p, s, hostile.LAUGHS, hostile.LAUGH),
        DOCX,
        UnsafeDocument,
        "its part 'word/document.xml' declares XML entities",
    ),
    "xxe.xlsx": (
        lambda p, s, c: hostile.xlsx_with_entities(p, s, hostile.external_entity(c), "&xxe;"),
        XLSX,
        UnsafeDocument,
        "its part 'xl/sharedStrings.xml' declares XML entities",
    ),
    "laughs.xlsx": (
        lambda p, s, _c: hostile.xlsx_with_entities(p, s, hostile.LAUGHS, hostile.LAUGH),
        XLSX,
        UnsafeDocument,
        "its part 'xl/sharedStrings.xml' declares XML entities",
    ),
}

# HTML has no custom entities: the declaration is dropped and the page read as text; the
# e-mail is read, and its billion-laughs attachment refused on its own line.
READ: dict[str, tuple[Maker, str]] = {
    "xxe.html": (
        lambda p, _s, c: hostile.html_with_entities(p, hostile.external_entity(c), "&xxe;"),
        "text/html",
    ),
    "laughs.html": (
        lambda p, _s, _c: hostile.html_with_entities(p, hostile.LAUGHS, hostile.LAUGH),
        "text/html",
    ),
    "mail.eml": (lambda p, s, c: hostile.eml_with_entities(p, s, c), "message/rfc822"),
}


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("canary") / "canary.txt"
    path.write_text(CANARY_TEXT)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, canary: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    scratch = folder / "scratch"
    scratch.mkdir()
    makers = {name: spec[0] for name, spec in {**REFUSED, **READ}.items()}
    return {name: make(folder / name, scratch, canary) for name, make in makers.items()}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ParseSandbox]:
    with ParseSandbox(workers=1) as pool:
        yield pool


# -- each file in the parse sandbox ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_hostile_file_is_refused_in_the_sandbox(
    name: str, files: dict[str, Path], sandbox: ParseSandbox
) -> None:
    _maker, _mime, refusal, words = REFUSED[name]
    started = time.monotonic()
    with pytest.raises(refusal) as refused:
        sandbox.parse(files[name], name=name)
    assert str(refused.value).startswith(name)
    assert words in str(refused.value)
    assert time.monotonic() - started < ParseLimits().timeout_s


@pytest.mark.parametrize("name", ["xxe.html", "laughs.html"])
def test_html_drops_the_declaration_and_expands_nothing(
    name: str, files: dict[str, Path], sandbox: ParseSandbox
) -> None:
    document = sandbox.parse(files[name], name=name)
    read = "\n".join(section.text for section in document.sections)
    assert "Report" in read
    assert CANARY_TEXT not in read
    assert "lollol" not in read
    assert len(read) < 1_000


def test_an_email_is_read_and_its_entity_attachment_refused(
    files: dict[str, Path], sandbox: ParseSandbox
) -> None:
    document = sandbox.parse(files["mail.eml"], name="mail.eml")
    read = "\n".join(section.text for section in document.sections)
    assert "Please see the attached invoice." in read
    assert CANARY_TEXT not in read
    [attachment] = document.attachments
    assert attachment.document is None
    assert attachment.code == UnsafeDocument.code
    assert "invoice.docx was refused" in str(attachment.reason)


# -- all of them uploaded to a running server ------------------------------------------------


@pytest.fixture(scope="module")
def remote() -> Iterator[FakeOpenAI]:
    with fake_openai() as running:
        yield running


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def server(remote: FakeOpenAI, data_dir: Path) -> Iterator[RunningServer]:
    # A scripted remote model: these tests are about reading files, not about answers.
    with cadre_server(
        data_dir, CADRE_OPENAI_BASE_URL=remote.url, CADRE_CHAT_MODEL="openai:test-model"
    ) as running:
        yield running


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


def _read_lines(chat: ChainlitClient, events: list) -> tuple[str, dict[str, str]]:  # type: ignore[type-arg]
    steps = [
        s for s in chat.messages(events).values() if str(s.get("name", "")).startswith("Read ")
    ]
    assert steps, dumps(events)
    output = str(steps[-1]["output"])
    lines = {line.split("**")[1]: line for line in output.split("\n\n") if "**" in line}
    return str(steps[-1]["name"]), lines


def _passages(data_dir: Path, query: str) -> list[dict[str, object]]:
    found = cadre(data_dir, "search", query, "--user", "admin", "--json", "-k", "50")
    assert found.returncode == 0, found.stderr
    return list(json.loads(found.stdout))


@pytest.mark.slow
async def test_hostile_uploads_fail_alone_and_the_server_keeps_everything(
    server: RunningServer,
    remote: FakeOpenAI,
    data_dir: Path,
    files: dict[str, Path],
    tmp_path: Path,
) -> None:
    chat = ChainlitClient(server.url)
    await chat.connect()
    try:
        garden = tmp_path / "garden.md"
        garden.write_text("# Garden\n\nThe tomatoes are watered every Tuesday by Ingrid.\n")
        events = await chat.ask_with_files("", [await chat.upload(garden, "text/markdown")])
        assert _read_lines(chat, events)[0] == "Read 1 of 1 file"
        peak_before = _peak_rss_kib(server.process.pid)

        # The ten refused files in one message (a message carries at most ten), then the rest.
        started = time.monotonic()
        ids = [await chat.upload(files[name], REFUSED[name][1]) for name in REFUSED]
        events = await chat.ask_with_files("", ids, timeout=600)
        heading, lines = _read_lines(chat, events)
        assert heading == "Read 0 of 10 files", dumps(events)
        for name, (_maker, _mime, _refusal, words) in REFUSED.items():
            assert lines[name].startswith(f"❌ **{name}**: {name}"), lines[name]
            assert words in lines[name], lines[name]
        # Each file stops at its first check or its limit, not after a minute-long parse.
        assert time.monotonic() - started < ParseLimits().timeout_s

        ids = [await chat.upload(files[name], mime) for name, (_maker, mime) in READ.items()]
        events = await chat.ask_with_files("", ids)
        heading, lines = _read_lines(chat, events)
        assert heading == "Read 3 of 3 files", dumps(events)
        attached = "mail.eml › invoice.docx"
        assert lines[attached].startswith(f"❌ **{attached}**: invoice.docx was refused"), lines

        # Every refusal is in the server's log with its reason code.
        log = server.log_text()
        for name, (_maker, _mime, refusal, _words) in REFUSED.items():
            assert f"Ingesting {name} failed ({refusal.code})" in log, log[-3000:]

        # The server kept serving, and its own memory did not take the bombs' weight.
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
        grown_mib = (_peak_rss_kib(server.process.pid) - peak_before) / 1024
        assert grown_mib < 256, f"the server's peak memory grew by {grown_mib:.0f} MiB"
        remote.replies.append(text("Still here."))
        assert chat.answers(await chat.ask("Are you still there?"))[-1] == "Still here."

        listing = await chat.ask("/documents")
        summary = "\n".join(
            str(s["output"])
            for s in chat.messages(listing).values()
            if "Your documents" in str(s["output"])
        )
        assert "**garden.md** — ✅ ready" in summary, summary
        for name in REFUSED:
            assert f"**{name}** — ❌ failed" in summary, summary
    finally:
        await chat.close()

    # What was saved before is still found; nothing from a refused file, and no canary, is.
    tomatoes = _passages(data_dir, "Who waters the tomatoes?")
    assert any("Ingrid" in str(p["text"]) for p in tomatoes), tomatoes
    stored = _passages(data_dir, "canary secret entity lol invoice report quarterly budget")
    assert {str(p["document"]) for p in stored} <= {"garden.md", *READ}, stored
    assert not any(CANARY_TEXT in str(p["text"]) for p in stored + tomatoes)
