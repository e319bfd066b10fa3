"""A local server that speaks OpenAI's chat completions protocol, for the real `openai` SDK.

Each request takes the next scripted reply: a stream of chunks (server-sent events, with
tool-call deltas and a usage chunk, as OpenAI sends them), an HTTP error with headers, a
stream cut off half way, or a hang. Every request body is kept for assertions.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.local_http import serving
from tests.support.server import free_port


@dataclass
class Reply:
    """One scripted answer."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    cut_after: int | None = None
    """Drop the connection after this many chunks."""
    hang_s: float = 0.0
    echo_system: bool = False
    """Stream the request's system prompt back as the answer, in 7-character pieces."""


def text(*pieces: str, usage: tuple[int, int] = (12, 5)) -> Reply:
    """A streamed text answer in `pieces`, then usage."""
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": piece}) for piece in pieces]
    chunks.append(_chunk({}, finish="stop"))
    chunks.append(_usage(*usage))
    return Reply(chunks)


def reasoned(thoughts: Sequence[str], answer: str) -> Reply:
    """A reasoning model's reply: `thoughts` as `reasoning_content` deltas (vLLM, DeepSeek),
    then the answer."""
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"reasoning_content": thought}) for thought in thoughts]
    chunks += [_chunk({"content": answer}), _chunk({}, finish="stop"), _usage(12, 5)]
    return Reply(chunks)


def tool_call(name: str, arguments: str, call_id: str = "call_1") -> Reply:
    """A tool call whose arguments arrive in three deltas."""
    third = max(1, len(arguments) // 3)
    parts = [arguments[:third], arguments[third : 2 * third], arguments[2 * third :]]
    chunks = [
        _chunk(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ],
            }
        )
    ]
    chunks += [
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}) for part in parts
    ]
    chunks += [_chunk({}, finish="tool_calls"), _usage(30, 9)]
    return Reply(chunks)


def error(status: int, message: str, code: str | None = None, **headers: str) -> Reply:
    """An HTTP error in OpenAI's error shape."""
    body = {"error": {"message": message, "type": "error", "code": code}}
    return Reply(status=status, error=body, headers=headers)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "test-model",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


@dataclass
class FakeOpenAI:
    """The running server: `url` for the SDK, `replies` to script, `requests` to inspect."""

    url: str
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    models: tuple[str, ...] = ("test-model",)
    """What `/v1/models` lists."""

    async def _completions(self, request: Request) -> Response:
        self.requests.append(await request.json())
        self.times.append(time.monotonic())
        reply = self.replies.pop(0) if self.replies else error(500, "not scripted")
        if reply.hang_s:
            await asyncio.sleep(reply.hang_s)
        if reply.error is not None:
            return JSONResponse(reply.error, reply.status, headers=reply.headers)
        if reply.echo_system:
            said = "".join(m["content"] for m in self.requests[-1]["messages"][:1])
            reply = text(*(said[i : i + 7] for i in range(0, len(said), 7)))

        async def events() -> AsyncIterator[bytes]:
            for index, chunk in enumerate(reply.chunks):
                if reply.cut_after is not None and index >= reply.cut_after:
                    raise ConnectionResetError("cut by the test")
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                await asyncio.sleep(0)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _models(self, _: Request) -> Response:
        listed = [{"id": name, "object": "model", "owned_by": "test"} for name in self.models]
        return JSONResponse({"object": "list", "data": listed})


@contextmanager
def fake_openai(models: tuple[str, ...] = ("test-model",)) -> Iterator[FakeOpenAI]:
    """Serve the fake, listing `models`, on a free loopback port for the duration of the block."""
    port = free_port()
    fake = FakeOpenAI(f"http://127.0.0.1:{port}/v1", models=models)
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", fake._completions, methods=["POST"]),
            Route("/v1/models", fake._models),
        ]
    )
    with serving(app, "fake-openai", port):
        yield fake
