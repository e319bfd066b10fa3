"""Reasoning written inline as `<think>…</think>` (Qwen3, DeepSeek-R1 and their distills, on
llama.cpp or any OpenAI-compatible server that does not split it out) becomes
`ReasoningChunk`s, so the person sees it in its own step and never in the answer.

Only a block that opens the reply counts: a `<think>` later in an answer is text the answer
is about (an HTML question, say). Tags split across stream chunks are held back until it is
clear what they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from agents.models.base import ModelEvent, ReasoningChunk, TextChunk

OPEN, CLOSE = "<think>", "</think>"


async def split_reasoning(stream: AsyncIterator[ModelEvent]) -> AsyncIterator[ModelEvent]:
    """`stream` with a leading `<think>` block turned into `ReasoningChunk`s."""
    state = "start"  # "start": nothing shown yet; "thinking": inside the block; "answer"
    pending = ""
    try:
        async for event in stream:
            if state == "answer" or not isinstance(event, TextChunk):
                if pending and not isinstance(event, TextChunk):
                    yield _flush(state, pending)
                    pending = ""
                yield event
                continue
            pending += event.text
            while pending:
                if state == "start":
                    text = pending.lstrip()
                    if text.startswith(OPEN):
                        state, pending = "thinking", text[len(OPEN) :]
                    elif not text or OPEN.startswith(text):
                        break  # whitespace, or maybe the start of a tag: wait for more
                    else:
                        state, pending = "answer", ""
                        yield TextChunk(text)
                else:  # thinking
                    end = pending.find(CLOSE)
                    if end >= 0:
                        if pending[:end]:
                            yield ReasoningChunk(pending[:end])
                        state, pending = "start", pending[end + len(CLOSE) :]
                        continue
                    keep = _partial_suffix(pending, CLOSE)
                    if len(pending) > keep:
                        yield ReasoningChunk(pending[: len(pending) - keep])
                        pending = pending[len(pending) - keep :]
                    break
        if pending:
            yield _flush(state, pending)
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def _flush(state: str, pending: str) -> ModelEvent:
    return ReasoningChunk(pending) if state == "thinking" else TextChunk(pending)


def _partial_suffix(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
