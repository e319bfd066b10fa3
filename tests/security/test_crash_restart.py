"""SIGKILL the server in the middle of a turn and of an ingestion, start it again on the same
data folder: the person's message, the thread and the documents read before are intact, the
document that was being read says it was interrupted (not stuck "reading"), and none of its
passages are half-visible. Then the same at twenty random moments in a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
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
ANSWER = "The glass roof, in April."


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

        # A third chat gets its answer; the kill comes the moment the turn is reported done.
        answered = ChainlitClient(server.url)
        await answered.connect()
        remote.replies.append(text(ANSWER))
        shown = answered.answers(await answered.ask("Which roof? (crash-test 5522)"))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
        assert shown[-1] == ANSWER
        answered_thread = next(
            str(e.data["thread_id"]) for e in answered.events if e.name == "first_interaction"
        )
        for task in (reading, turn):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for chat in (talker, reader, answered):
            with contextlib.suppress(Exception):
                await chat.close()

    with sqlite3.connect(data_dir / "cadre.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    with _server(data_dir, remote) as server:
        cookie = server.login()
        async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
            stored = (await http.get(f"/project/thread/{thread}", timeout=30)).json()
            done = (await http.get(f"/project/thread/{answered_thread}", timeout=30)).json()
        said = [s["output"] for s in stored["steps"] if s["type"] == "user_message"]
        assert QUESTION in said, stored["steps"]
        # An answer the person was shown, in a turn reported finished, was stored before that.
        assert ANSWER in [s["output"] for s in done["steps"]], done["steps"]

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


CYCLES = 20


def _note(path: Path, cycle: int) -> Path:
    """A document that takes the server a moment to read, with a word only it contains."""
    lines = [f"# Cycle {cycle} note\n\nThe code word of cycle {cycle} is zq{cycle}vx."]
    lines += [
        f"Entry {n} of cycle {cycle}: crate {n % 7} holds {n % 13} jars of plum jam."
        for n in range(300)
    ]
    path.write_text("\n\n".join(lines) + "\n")
    return path


async def _cycle(
    server: RunningServer,
    remote: FakeOpenAI,
    cycle: int,
    folder: Path,
    delay: float,
    thinking: float,
) -> tuple[str | None, bool, bool]:
    """Send a message (its model takes `thinking` s to answer) and a document, SIGKILL after
    `delay` s: (thread, turn done, document ready)."""
    talker = ChainlitClient(server.url)
    reader = ChainlitClient(server.url)
    await talker.connect()
    await reader.connect()
    remote.replies.append(Reply(text("Noted.").chunks, hang_s=thinking))
    turn = asyncio.create_task(talker.ask(f"Crash cycle {cycle}: remember plums."))
    note = _note(folder / f"cycle-{cycle}.md", cycle)
    reading = asyncio.create_task(
        reader.ask_with_files("", [await reader.upload(note, "text/markdown")])
    )
    await asyncio.sleep(delay)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=30)
    answered = turn.done() and not turn.cancelled() and turn.exception() is None
    ready = (
        reading.done()
        and not reading.cancelled()
        and reading.exception() is None
        and any(
            s.get("name") == "Read 1 of 1 file" for s in reader.messages(reading.result()).values()
        )
    )
    for task in (turn, reading):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    thread = next(
        (str(e.data["thread_id"]) for e in talker.events if e.name == "first_interaction"), None
    )
    for chat in (talker, reader):
        with contextlib.suppress(Exception):
            await chat.close()
    return thread, answered, ready


async def test_twenty_kills_at_random_moments_lose_nothing_acknowledged(
    remote: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CADRE_CRASH_SEED", "14"))
    rng = random.Random(seed)
    data_dir = tmp_path_factory.mktemp("crash-loop")
    answered: dict[int, str] = {}  # cycle -> thread of a turn that ended before the kill
    ready: set[int] = set()  # cycles whose document was reported ready before the kill
    for cycle in range(CYCLES):
        with _server(data_dir, remote) as server:
            thread, done, read = await _cycle(
                server,
                remote,
                cycle,
                tmp_path,
                delay=rng.uniform(0.0, 3.0),
                thinking=rng.uniform(0.0, 2.0),
            )
        if done and thread:
            answered[cycle] = thread
        if read:
            ready.add(cycle)
        with sqlite3.connect(data_dir / "cadre.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], (seed, cycle)
    # Kills must have landed both mid-work and after it, or the loop proves little.
    assert 0 < len(answered) < CYCLES, f"seed {seed}: {len(answered)} turns answered"
    assert 0 < len(ready) < CYCLES, f"seed {seed}: {len(ready)} documents read"

    with _server(data_dir, remote) as server:
        cookie = server.login()
        async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
            for cycle, thread in answered.items():
                steps = (await http.get(f"/project/thread/{thread}", timeout=30)).json()["steps"]
                said = [s["output"] for s in steps if s["type"] == "user_message"]
                shown = [(s["type"], s["name"], str(s["output"])[:80]) for s in steps]
                assert f"Crash cycle {cycle}: remember plums." in said, (seed, cycle, shown)
                assert any(s["output"] == "Noted." for s in steps), (seed, cycle, shown)
    statuses = _documents(data_dir)
    for name, (status, reason) in statuses.items():
        assert status in ("ready", "failed"), (seed, name, status)
        if status == "failed":
            assert reason is not None
            assert "interrupted" in reason, (seed, name, reason)
    stored_ready = {name for name, (status, _) in statuses.items() if status == "ready"}
    assert {f"cycle-{cycle}.md" for cycle in ready} <= stored_ready, seed
    found = cadre(data_dir, "search", "The code word of cycle is", "--json", "-k", "100")
    assert found.returncode == 0, found.stderr
    names = {hit["document"] for hit in json.loads(found.stdout)}
    # Only complete documents are ever searchable; every one reported ready is.
    assert names <= stored_ready, (seed, names - stored_ready)
    assert {f"cycle-{cycle}.md" for cycle in ready} <= names, seed
    print(
        f"seed {seed}: {len(answered)} of {CYCLES} turns and {len(ready)} documents done "
        f"before their kill; {len(stored_ready)} documents ready after the restarts"
    )
