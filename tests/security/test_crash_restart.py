"""SIGKILL the server in the middle of a turn and of an ingestion, start it again on the same
data folder: the person's message, the thread and the documents read before are intact, the
document that was being read says it was interrupted (not stuck "reading"), and none of its
passages are half-visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.models.openai_server import FakeOpenAI, Reply, fake_openai, text
from tests.support.chainlit_client import ChainlitClient, Received
from tests.support.cli import cadre
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # two server starts, a long ingestion

QUESTION = "What does the garden plan say about the greenhouse? (crash-test 5521)"


@pytest.fixture(scope="module")
def remote() -> Iterator[FakeOpenAI]:
    with fake_openai() as running:
        yield running


def _server(data_dir: Path, remote: FakeOpenAI) -> contextlib.AbstractContextManager[RunningServer]:
    return cadre_server(
        data_dir, CADRE_OPENAI_BASE_URL=remote.url, CADRE_CHAT_MODEL="openai:test-model"
    )


def _big_document(path: Path) -> Path:
    """Enough distinct paragraphs that embedding them takes the server many seconds."""
    paragraphs = [
        f"## Field note {n}\n\nPlot {n} was surveyed on day {n % 28 + 1}: the soil held "
        f"{n % 17 + 3} percent moisture, {n % 11 + 1} worms per spade, and the hedge on its "
        f"north side measured {n % 9 + 1} metres. Surveyor number {n % 13} signed the sheet."
        for n in range(2_500)
    ]
    path.write_text("# Field survey\n\n" + "\n\n".join(paragraphs) + "\n")
    return path


def _embedding(name: str) -> object:
    def seen(events: list[Received]) -> bool:
        return any(
            e.name == "update_message"
            and f"**{name}**" in str(e.data.get("output"))
            and "passages embedded" in str(e.data.get("output"))
            for e in events
        )

    return seen


def _documents(data_dir: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(data_dir / "cadre.db") as conn:
        rows = conn.execute("SELECT name, status, reason FROM documents").fetchall()
    return {name: (status, reason) for name, status, reason in rows}


async def test_a_kill_mid_turn_and_mid_ingestion_loses_nothing_acknowledged(
    remote: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path_factory.mktemp("data")
    garden = tmp_path / "garden.md"
    garden.write_text("# Garden plan\n\nThe greenhouse gets a new glass roof in April.\n")
    big = _big_document(tmp_path / "field-survey.md")

    with _server(data_dir, remote) as server:
        talker = ChainlitClient(server.url)
        reader = ChainlitClient(server.url)
        await talker.connect()
        await reader.connect()
        events = await talker.ask_with_files("", [await talker.upload(garden, "text/markdown")])
        assert any(s.get("name") == "Read 1 of 1 file" for s in talker.messages(events).values())

        # A long ingestion in one chat, a turn waiting on its model in another: kill both.
        reading = asyncio.create_task(
            reader.ask_with_files("", [await reader.upload(big, "text/markdown")], timeout=600)
        )
        await reader.wait_until(_embedding(big.name), timeout=300)  # type: ignore[arg-type]
        remote.replies.append(Reply(text("Too late.").chunks, hang_s=120))
        asked = len(remote.requests)
        turn = asyncio.create_task(talker.ask(QUESTION, timeout=600))
        for _ in range(300):
            if len(remote.requests) > asked:
                break
            await asyncio.sleep(0.1)
        assert len(remote.requests) > asked, "the turn never reached its model"
        thread = next(
            str(e.data["thread_id"]) for e in talker.events if e.name == "first_interaction"
        )
        assert _documents(data_dir)[big.name][0] == "processing"

        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
        for task in (reading, turn):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for chat in (talker, reader):
            with contextlib.suppress(Exception):
                await chat.close()

    with sqlite3.connect(data_dir / "cadre.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    with _server(data_dir, remote) as server:
        cookie = server.login()
        async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
            stored = (await http.get(f"/project/thread/{thread}", timeout=30)).json()
        said = [s["output"] for s in stored["steps"] if s["type"] == "user_message"]
        assert QUESTION in said, stored["steps"]

        statuses = _documents(data_dir)
        assert statuses["garden.md"] == ("ready", None)
        status, reason = statuses[big.name]
        assert status == "failed"
        assert reason is not None
        assert "interrupted" in reason
        assert "upload it again" in reason

        # The person sees the same in the list; the chat works.
        chat = ChainlitClient(server.url, cookie=cookie)
        await chat.connect()
        try:
            listing = "\n".join(
                str(s["output"])
                for s in chat.messages(await chat.ask("/documents")).values()
                if "Your documents" in str(s["output"])
            )
            assert "**garden.md** — ✅ ready" in listing, listing
            assert f"**{big.name}** — ❌ failed" in listing, listing
            assert "reading" not in listing
            remote.replies.append(text("Back again."))
            assert chat.answers(await chat.ask("Are you back?"))[-1] == "Back again."
        finally:
            await chat.close()

    # No passage of the interrupted document is searchable; the ready one is.
    found = cadre(data_dir, "search", "soil moisture worms hedge greenhouse", "--json", "-k", "50")
    assert found.returncode == 0, found.stderr
    documents = {hit["document"] for hit in json.loads(found.stdout)}
    assert documents == {"garden.md"}, documents
