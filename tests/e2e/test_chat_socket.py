"""End to end: a real server, the bundled model, and a client speaking Chainlit's protocol."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.support.chainlit_client import ChainlitClient, Received, dumps, tokens_of
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow

LONG_TASK = "Write a very long, detailed essay about the history of the Roman Empire."


SERVER_ENV = {"CADRE_MAX_NEW_TOKENS": "1500"}  # long enough to stop mid-answer


def _answer(chat: ChainlitClient, events: list[Received]) -> dict[str, object]:
    answers = [
        step
        for step in chat.messages(events).values()
        if step.get("type") == "assistant_message" and step.get("name") == "Chief of Staff"
    ]
    assert len(answers) == 1, dumps(events)
    return answers[0]


async def test_answer_streams_token_by_token(client: ChainlitClient) -> None:
    events = await client.ask("What is the capital of France?")

    answer = _answer(client, events)
    tokens = tokens_of(events, str(answer["id"]))
    assert len(tokens) > 3, dumps(events)
    assert "".join(tokens) == answer["output"]
    assert "Paris" in str(answer["output"])
    final = [e for e in events if e.name == "new_message" and e.data["id"] == answer["id"]]
    assert final
    assert final[-1].data["streaming"] is False


async def test_follow_up_sees_earlier_turns(client: ChainlitClient) -> None:
    await client.ask("My name is Zorbalina. Please remember my name.")
    events = await client.ask("What is my name?")

    assert "Zorbalina" in str(_answer(client, events)["output"])


async def test_stop_ends_a_long_generation_at_once(client: ChainlitClient) -> None:
    start = len(client.events)
    await client.send(LONG_TASK)
    await client.wait_until(
        lambda events: sum(e.name == "stream_token" for e in events[start:]) >= 5
    )
    await client.stop()
    stopped_at = time.monotonic()

    # Counted in tokens, not seconds: llama.cpp slows with the machine's load, and so does
    # whatever was already on its way when the stop arrived. Unstopped, the essay runs to
    # 1,500 tokens; stopped, at most a handful more arrive. (The stop's latency in seconds
    # is a figure for bench/, not a test's pass mark.)
    end = await client.wait_for("task_end", after=start, timeout=120)
    late = [e for e in client.events if stopped_at <= e.at <= end.at and e.name == "stream_token"]
    assert len(late) <= 8, f"{len(late)} tokens streamed after the stop"
    await asyncio.sleep(1.0)  # nothing more may stream once stopped
    after_stop = [e for e in client.events if e.at > end.at and e.name.startswith("stream")]
    assert after_stop == []

    steps = client.messages(client.events[start:]).values()
    writing = [s for s in steps if s["type"] == "llm"]
    assert writing, "the long essay goes to an operator, whose step streams it"
    assert all(s["output"].rstrip().endswith("*(stopped)*") for s in writing)
    assert len(writing[0]["output"].split()) >= 5  # what was written before the stop is kept
    notices = [s["output"] for s in steps if s["type"] == "assistant_message"]
    assert "Task manually stopped." in notices


async def test_a_second_user_sees_their_place_in_the_queue(server: RunningServer) -> None:
    first, second = ChainlitClient(server.url), ChainlitClient(server.url)
    await first.connect()
    await second.connect()
    try:
        await first.send(LONG_TASK)
        await first.wait_for("stream_token")
        start = len(second.events)
        await second.send("Say hello.")
        await second.wait_until(
            lambda events: any(
                e.name == "new_message" and "1 request ahead of yours" in e.data["output"]
                for e in events[start:]
            ),
            timeout=30,
        )

        await first.stop()
        await second.wait_for("delete_message", after=start, timeout=30)
        await second.wait_for("task_end", after=start, timeout=120)
        answer = _answer(second, second.events[start:])
        assert str(answer["output"]).strip()
    finally:
        await first.close()
        await second.close()


def test_health_and_readiness(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_the_page_is_branded_and_fully_offline(server: RunningServer) -> None:
    page = httpx.get(server.url).text
    assert "<title>Cadre</title>" in page
    assert "https://" not in page.split("<body")[0].replace('content="https://', "")
    assert httpx.get(f"{server.url}/logo?theme=light").headers["content-type"] == "image/svg+xml"
    settings = httpx.get(
        f"{server.url}/project/settings?language=en-US", headers={"Cookie": server.login()}
    )
    welcome = settings.json()["markdown"]
    assert "Welcome to Cadre" in welcome


def test_readiness_waits_for_the_model(tmp_path: Path) -> None:
    with cadre_server(tmp_path, wait_ready=False) as running:
        # Served as soon as /healthz answers, while the model still loads (seconds): the
        # first probe must say so, or a balancer would send chats to a server that cannot
        # answer them.
        first = httpx.get(f"{running.url}/readyz")
        assert first.status_code == 503, first.text
        assert first.json()["status"] == "loading"
        deadline = time.monotonic() + 300
        while httpx.get(f"{running.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, running.log_text()
            time.sleep(0.5)
