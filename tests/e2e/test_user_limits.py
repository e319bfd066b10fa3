"""Per-person limits of signed-in users, on a real server whose model is a scripted fake of
OpenAI: messages per minute over the chat's socket and over `/v1` (the real `openai` SDK),
and tokens per UTC day. A refused message never reaches the model and is not counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.models.openai_server import FakeOpenAI, fake_openai, text
from tests.support.chainlit_client import ChainlitClient, login
from tests.support.cli import add_user, new_api_key
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # starts a server

PASSWORD = "a-long-password-1"
PER_MINUTE = 2
TOKENS_PER_DAY = 100
TOO_MANY = f"You have sent {PER_MINUTE} messages in the last minute; wait a moment."


@dataclass
class Limited:
    server: RunningServer
    remote: FakeOpenAI
    data: Path

    def client(self, user: str) -> openai.OpenAI:
        # No retries: the SDK would otherwise try a 429 again, and be refused again.
        key = new_api_key(self.data, user)
        return openai.OpenAI(base_url=f"{self.server.url}/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    data = tmp_path_factory.mktemp("data")
    for user in ("alice", "bob", "carol", "dave"):
        add_user(data, user, PASSWORD)
    with (
        fake_openai() as remote,
        cadre_server(
            data,
            CADRE_OPENAI_BASE_URL=remote.url,
            CADRE_CHAT_MODEL="openai:test-model",
            CADRE_USER_MESSAGES_PER_MINUTE=str(PER_MINUTE),
            CADRE_USER_TOKENS_PER_DAY=str(TOKENS_PER_DAY),
        ) as server,
    ):
        yield Limited(server, remote, data)


async def test_the_chat_refuses_the_message_over_the_minutes_limit_without_asking_the_model(
    limited: Limited,
) -> None:
    chat = ChainlitClient(
        limited.server.url, cookie=await login(limited.server.url, "alice", PASSWORD)
    )
    await chat.connect()
    try:
        for n in range(PER_MINUTE):
            limited.remote.replies.append(text(f"Answer {n}.", usage=(5, 3)))
            events = await chat.ask(f"Question {n}?")
            assert chat.answers(events)[-1] == f"Answer {n}.", json.dumps(chat.messages(events))
        asked = len(limited.remote.requests)
        limited.remote.replies.append(text("Never said.", usage=(5, 3)))
        events = await chat.ask("One more?")
        shown = json.dumps(chat.messages(events))
        assert TOO_MANY in shown
        assert "could not answer" not in shown  # a limit, not a failure
        assert "Never said." not in shown
        assert len(limited.remote.requests) == asked  # the model was never asked
    finally:
        await chat.close()
    limited.remote.replies.clear()


def test_v1_refuses_the_message_over_the_minutes_limit_with_an_openai_429(
    limited: Limited,
) -> None:
    client = limited.client("bob")
    question: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "What is two plus two?"}
    ]
    for n in range(PER_MINUTE):
        limited.remote.replies.append(text(f"Four, {n}.", usage=(5, 3)))
        reply = client.chat.completions.create(model="cadre", messages=question)
        assert reply.choices[0].message.content == f"Four, {n}."
    asked = len(limited.remote.requests)
    limited.remote.replies.append(text("Never said.", usage=(5, 3)))
    for stream in (False, True):
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="cadre", messages=question, stream=stream)
        assert refused.value.status_code == 429
        error = refused.value.body
        assert isinstance(error, dict)
        assert error["message"] == TOO_MANY
        assert error["code"] == "rate_limit_exceeded"
        assert error["type"] == "requests"
    assert len(limited.remote.requests) == asked
    limited.remote.replies.clear()


async def test_the_minutes_limit_counts_every_channel_of_one_person(limited: Limited) -> None:
    """dave's one chat message and one API call fill his minute; the next of either is refused."""
    chat = ChainlitClient(
        limited.server.url, cookie=await login(limited.server.url, "dave", PASSWORD)
    )
    await chat.connect()
    try:
        limited.remote.replies.append(text("By chat.", usage=(5, 3)))
        assert chat.answers(await chat.ask("First?"))[-1] == "By chat."
        client = limited.client("dave")
        limited.remote.replies.append(text("By API.", usage=(5, 3)))
        reply = client.chat.completions.create(
            model="cadre", messages=[{"role": "user", "content": "Second?"}]
        )
        assert reply.choices[0].message.content == "By API."
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="cadre", messages=[{"role": "user", "content": "Third?"}]
            )
        events = await chat.ask("Fourth?")
        assert TOO_MANY in json.dumps(chat.messages(events))
    finally:
        await chat.close()


def test_the_next_turn_after_the_days_tokens_are_spent_is_refused_with_the_reset_time(
    limited: Limited,
) -> None:
    client = limited.client("carol")
    question: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Summarise the plan."}
    ]
    limited.remote.replies.append(text("A long summary.", usage=(80, 40)))
    reply = client.chat.completions.create(model="cadre", messages=question)
    assert reply.choices[0].message.content == "A long summary."
    asked = len(limited.remote.requests)
    limited.remote.replies.append(text("Never said.", usage=(5, 3)))
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="cadre", messages=question)
    error = refused.value.body
    assert isinstance(error, dict)
    message = error["message"]
    assert message.startswith(
        f"You have used today's allowance of {TOKENS_PER_DAY} tokens (120 used). "
        "It resets at 00:00 UTC, in "
    ), message
    assert error["type"] == "tokens"
    assert len(limited.remote.requests) == asked
    limited.remote.replies.clear()
