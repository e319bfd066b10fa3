"""A chat of any length fits the context window: old turns go first, never the request."""

from __future__ import annotations

from agents.models.base import ChatMessage, ToolCall
from agents.models.context import TRIM_MARKER, ApproximateCounter, fit_to_context

COUNTER = ApproximateCounter()


def _tokens(messages: list[ChatMessage]) -> int:
    return sum(COUNTER.count(m.content) + 6 for m in messages)


def test_a_short_chat_is_kept_whole() -> None:
    chat = [ChatMessage.system("be brief"), ChatMessage.user("hi"), ChatMessage.assistant("hello")]

    assert fit_to_context(chat, COUNTER, budget=1000) == chat


def test_old_turns_are_dropped_and_the_system_prompt_kept() -> None:
    chat = [ChatMessage.system("be brief")]
    for i in range(200):
        chat += [
            ChatMessage.user(f"question {i} " * 10),
            ChatMessage.assistant(f"answer {i} " * 10),
        ]
    chat.append(ChatMessage.user("the latest question"))

    fitted = fit_to_context(chat, COUNTER, budget=500)

    assert fitted[0] == chat[0]
    assert fitted[-1] == chat[-1]
    assert _tokens(fitted) <= 500
    assert fitted[1:] == chat[len(chat) - (len(fitted) - 1) :]  # a contiguous recent window


def test_a_huge_last_message_keeps_its_end() -> None:
    request = "x " * 5000 + "so what is the answer?"
    chat = [ChatMessage.system("s"), ChatMessage.user(request)]

    fitted = fit_to_context(chat, COUNTER, budget=300)

    assert fitted[-1].content.startswith(TRIM_MARKER)
    assert fitted[-1].content.endswith("so what is the answer?")
    assert _tokens(fitted) <= 300


def test_a_tool_result_never_outlives_its_call() -> None:
    call = ToolCall("c1", "lookup", {})
    chat = [
        ChatMessage.user("a" * 400),
        ChatMessage.assistant("", [call]),
        ChatMessage.tool("c1", "b" * 400),
        ChatMessage.user("next"),
    ]

    fitted = fit_to_context(chat, COUNTER, budget=140)

    assert fitted[0].role != "tool"
    assert fitted[-1].content == "next"
