"""The disk under the data folder fills while a person uploads a file through the chat, on
a real `cadre serve` with its data folder (Chainlit's uploads, the database, the document
index, the kept originals) on a small tmpfs:

- while the upload itself is saved: the person is told the disk is full and nothing of the
  file was saved (the browser shows the upload's `detail` next to the file's name), the
  server logs it, no half-written file stays, and the chat goes on;
- after the upload was saved, while the file is read: its line in the chat says the disk is
  full, nothing of it is searchable or kept, and once space is freed it is listed as failed
  with that reason (the full disk refused that record too; it is written when it can be).

Either way the documents and threads from before stay intact and searchable, and once space
is freed the same file uploads and is read normally.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from tests.models.openai_server import FakeOpenAI, fake_openai, text
from tests.support.chainlit_client import ChainlitClient, dumps
from tests.support.cli import cadre
from tests.support.disks import fill, small_disk
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # a server start per test

EARLIER = "# Orchard\n\nThe quince trees are pruned in February by Ottilie.\n"


@pytest.fixture(scope="module")
def remote() -> Iterator[FakeOpenAI]:
    with fake_openai() as running:
        yield running


def _ledger(path: Path, rows: int = 15_000) -> Path:
    """A document of `rows` rows, 47 bytes each: 0.7 MB by default, far more than the full
    disk leaves, and read again once space is freed in about a minute."""
    rows_text = (f"Row {n}: barrel {n % 97} holds cider batch {n}." for n in range(rows))
    path.write_text("# Cider ledger\n\n" + "\n\n".join(rows_text) + "\n")
    return path


def _files(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its size."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def _search(data: Path, query: str) -> set[str]:
    """`cadre search` as a person runs it: the documents it finds."""
    found = cadre(data, "search", query, "--json", "-k", "20")
    assert found.returncode == 0, found.stderr
    return {hit["document"] for hit in json.loads(found.stdout)}


async def _read(chat: ChainlitClient, path: Path) -> str:
    """Upload `path`, send it alone; the "Read n of m" step's name and its lines."""
    events = await chat.ask_with_files("", [await chat.upload(path, "text/markdown")])
    steps = [s for s in chat.messages(events).values() if str(s.get("name")).startswith("Read ")]
    assert steps, dumps(events)
    return f"{steps[-1]['name']}\n{steps[-1]['output']}"


async def _documents(chat: ChainlitClient) -> str:
    listing = await chat.ask("/documents")
    return "\n".join(
        str(s["output"])
        for s in chat.messages(listing).values()
        if "Your documents" in str(s["output"])
    )


async def _listed_failed(chat: ChainlitClient, name: str) -> str:
    """`/documents` once it lists `name` as failed (the record is written in the background
    once the disk takes writes again; polled)."""
    listing = ""
    for _ in range(120):
        listing = await _documents(chat)
        if f"**{name}** — ❌ failed" in listing:
            return listing
        await asyncio.sleep(0.5)
    raise AssertionError(f"{name} is never listed as failed:\n{listing}")


def _full_disk_sentence(said: str, name: str) -> None:
    assert f"The server's disk is full: {name} could not be stored" in said, said
    assert "nothing of it was saved" in said, said
    assert "upload it again" in said, said


def _server(data: Path, remote: FakeOpenAI, log: Path) -> AbstractContextManager[RunningServer]:
    """The server, its log off the full disk (written there, its lines would be lost too)."""
    return cadre_server(
        data,
        log_name=str(log),  # absolute: `data / log` is `log`
        CADRE_OPENAI_BASE_URL=remote.url,
        CADRE_CHAT_MODEL="openai:test-model",
    )


async def _earlier_thread(server: RunningServer, chat: ChainlitClient, tmp_path: Path) -> str:
    """A document read and a thread stored before the disk fills; the thread's id."""
    orchard = tmp_path / "orchard.md"
    orchard.write_text(EARLIER)
    assert (await _read(chat, orchard)).startswith("Read 1 of 1 file")
    thread = next(str(e.data["thread_id"]) for e in chat.events if e.name == "first_interaction")
    # Wait until the turn's last step update is stored: what the full disk must not break
    # is what was stored before it filled.
    for _ in range(300):
        if await _holds_read_step(server, thread):
            return thread
        await asyncio.sleep(0.1)
    raise AssertionError(f"the thread {thread} never stored its 'Read 1 of 1 file' step")


async def _holds_read_step(server: RunningServer, thread: str) -> bool:
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": server.login()}) as http:
        stored = (await http.get(f"/project/thread/{thread}", timeout=30)).json()
    return any(str(s["name"]).startswith("Read 1 of 1 file") for s in stored["steps"])


async def _intact(server: RunningServer, data: Path, thread: str) -> None:
    """The thread from before still holds its upload's step; its document is searchable."""
    assert await _holds_read_step(server, thread)
    assert _search(data, "When are the quince trees pruned?") >= {"orchard.md"}


async def test_a_full_disk_while_the_upload_is_saved_loses_nothing_and_says_so(
    remote: FakeOpenAI, tmp_path: Path
) -> None:
    ledger = _ledger(tmp_path / "ledger.md")
    with small_disk(tmp_path / "disk", "48m") as disk:
        data = disk / "data"
        with _server(data, remote, tmp_path / "server.log") as server:
            chat = ChainlitClient(server.url)
            await chat.connect()
            thread = await _earlier_thread(server, chat, tmp_path)
            uploads = data / "uploads"
            before = _files(uploads)
            filler = fill(disk, leave=256 * 1024)

            with pytest.raises(httpx.HTTPStatusError) as refused:
                await chat.upload(ledger, "text/markdown")
            assert refused.value.response.status_code == 507
            _full_disk_sentence(refused.value.response.json()["detail"], "ledger.md")
            await server.logged("The disk is full: the upload 'ledger.md'")
            # Not a byte of it stays (a half-written upload would fill the disk again).
            assert _files(uploads) == before

            # The server goes on: the same chat answers, lists what it had.
            remote.replies.append(text("Still here."))
            assert chat.answers(await chat.ask("Are you there?"))[-1] == "Still here."
            listing = await _documents(chat)
            assert "**orchard.md** — ✅ ready" in listing, listing
            assert "ledger.md" not in listing

            # Space is freed: the same file uploads and is read.
            filler.unlink()
            said = await _read(chat, ledger)
            assert said.startswith("Read 1 of 1 file"), said
            assert "✅ **ledger.md**: ready" in said, said
            await _intact(server, data, thread)
            assert _search(data, "Which barrel holds cider batch 4242?") >= {"ledger.md"}
            originals = [p for p in (data / "documents").rglob("*.md") if p.is_file()]
            assert sorted(p.read_bytes() for p in originals) == sorted(
                [EARLIER.encode(), ledger.read_bytes()]
            )
            await chat.close()


async def test_a_disk_that_fills_while_an_upload_is_read_fails_it_cleanly(
    remote: FakeOpenAI, tmp_path: Path
) -> None:
    ledger = _ledger(tmp_path / "ledger.md")
    with small_disk(tmp_path / "disk", "48m") as disk:
        data = disk / "data"
        with _server(data, remote, tmp_path / "server.log") as server:
            chat = ChainlitClient(server.url)
            await chat.connect()
            thread = await _earlier_thread(server, chat, tmp_path)
            # The upload is saved; the disk fills before the message that sends it.
            file_id = await chat.upload(ledger, "text/markdown")
            filler = fill(disk, leave=64 * 1024)
            events = await chat.ask_with_files("", [file_id])
            [step] = [
                s for s in chat.messages(events).values() if str(s.get("name")).startswith("Read ")
            ]
            assert step["name"] == "Read 0 of 1 file", step
            assert str(step["output"]).startswith("❌ **ledger.md**: "), step
            _full_disk_sentence(str(step["output"]), "ledger.md")
            await server.logged("Ingesting ledger.md failed (disk_full)")

            filler.unlink()
            # The full disk refused its "failed" record too; once space is freed the list
            # says failed and why, as the chat did, without a restart. Nothing of it is
            # searchable or kept.
            listing = await _listed_failed(chat, "ledger.md")
            assert "**orchard.md** — ✅ ready" in listing, listing
            [line] = [row for row in listing.splitlines() if "**ledger.md**" in row]
            assert line.startswith("- **ledger.md** — ❌ failed: "), line
            _full_disk_sentence(line, "ledger.md")
            assert "ledger.md" not in _search(data, "Which barrel holds cider batch 4242?")
            originals = [p.read_bytes() for p in (data / "documents").rglob("*") if p.is_file()]
            assert originals == [EARLIER.encode()]
            await _intact(server, data, thread)

            # With space again the same file is read.
            said = await _read(chat, ledger)
            assert said.startswith("Read 1 of 1 file"), said
            assert "✅ **ledger.md**: ready" in said, said
            assert _search(data, "Which barrel holds cider batch 4242?") >= {"ledger.md"}
            await chat.close()
