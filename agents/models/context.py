"""Fit a conversation into a model's context window without ever failing on a long chat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from agents.models.base import ChatMessage

TRIM_MARKER = "[…earlier text trimmed to fit the model's context…]\n"

# Chat templates wrap each turn in role markers; a few tokens per message covers them.
_PER_MESSAGE_OVERHEAD = 6


class TokenCounter(Protocol):
    """Counts tokens the way a model's tokenizer does, and cuts text to a token budget."""

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        ...

    def tail(self, text: str, max_tokens: int) -> str:
        """The last `max_tokens` tokens of `text`, as text."""
        ...


class ApproximateCounter:
    """About four characters a token: for providers whose tokenizer we do not hold."""

    def count(self, text: str) -> int:
        """Estimated token count."""
        return (len(text) + 3) // 4

    def tail(self, text: str, max_tokens: int) -> str:
        """The end of `text`, about `max_tokens` long."""
        return text[-max_tokens * 4 :] if max_tokens > 0 else ""


def _cost(message: ChatMessage, counter: TokenCounter) -> int:
    return counter.count(message.content) + _PER_MESSAGE_OVERHEAD


def fit_to_context(
    messages: Sequence[ChatMessage], counter: TokenCounter, budget: int
) -> list[ChatMessage]:
    """Keep the system prompt and the most recent turns that fit in `budget` tokens.

    Older turns are dropped whole; a tool result is never kept without the assistant turn
    that called it. If the latest turn alone is too long, its beginning is cut instead.
    """
    system = [m for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    remaining = budget - sum(_cost(m, counter) for m in system)
    if not rest:
        return list(system)

    kept: list[ChatMessage] = []
    for message in reversed(rest):
        cost = _cost(message, counter)
        if cost > remaining:
            break
        kept.append(message)
        remaining -= cost
    kept.reverse()

    if not kept:
        # The latest turn alone overflows: keep its end, which holds the actual request.
        last = rest[-1]
        room = max(remaining - _PER_MESSAGE_OVERHEAD - counter.count(TRIM_MARKER), 1)
        kept = [replace(last, content=TRIM_MARKER + counter.tail(last.content, room))]

    while kept and kept[0].role == "tool":
        kept.pop(0)
    return [*system, *kept]
