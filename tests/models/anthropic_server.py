"""A local server that speaks Anthropic's Messages API streaming (server-sent events with
message_start, content_block_* and message_delta events), for the real `anthropic` SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.local_http import serving
from tests.support.server import free_port

Event = tuple[str, dict[str, Any]]


@dataclass
class ClaudeReply:
    """One scripted answer: events, or an error status."""

    events: list[Event] = field(default_factory=list)
    status: int = 200
    error_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def _start(input_tokens: int) -> Event:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    return "message_start", {"type": "message_start", "message": message}


def _end(stop: str, output_tokens: int) -> list[Event]:
    return [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def wrote(*pieces: str, thinking: str = "") -> ClaudeReply:
    """Text in `pieces` (after a thinking block, if given)."""
    events = [_start(40)]
    index = 0
    if thinking:
        events += [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": thinking},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]
        index = 1
    events.append(
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
        )
    )
    events += [
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": piece},
            },
        )
        for piece in pieces
    ]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return ClaudeReply(events + _end("end_turn", 9))


def uses(name: str, arguments: str, tool_id: str = "toolu_1") -> ClaudeReply:
    """A tool_use block whose input arrives as two JSON deltas."""
    half = len(arguments) // 2
    events = [
        _start(55),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": arguments[:half]},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": arguments[half:]},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    return ClaudeReply(events + _end("tool_use", 12))


def refused(status: int, error_type: str, **headers: str) -> ClaudeReply:
    return ClaudeReply(status=status, error_type=error_type, headers=headers)


@dataclass
class FakeAnthropic:
    """The running server: `url` for the SDK, `replies` to script, `requests` to inspect."""

    url: str
    replies: list[ClaudeReply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def _messages(self, request: Request) -> Response:
        self.requests.append(await request.json())
        reply = self.replies.pop(0) if self.replies else refused(500, "api_error")
        if reply.status != 200:
            body = {"type": "error", "error": {"type": reply.error_type, "message": "scripted"}}
            return JSONResponse(body, reply.status, headers=reply.headers)

        async def events() -> AsyncIterator[bytes]:
            for name, data in reply.events:
                yield f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream")


async def _models(_: Request) -> Response:
    claude = {"type": "model", "id": "claude-test", "display_name": "Claude Test"}
    return JSONResponse(
        {
            "data": [claude | {"created_at": "2026-01-01T00:00:00Z"}],
            "has_more": False,
            "first_id": "claude-test",
            "last_id": "claude-test",
        }
    )


@contextmanager
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """Serve the fake on a free loopback port for the duration of the block."""
    port = free_port()
    fake = FakeAnthropic(f"http://127.0.0.1:{port}")
    app = Starlette(
        routes=[
            Route("/v1/messages", fake._messages, methods=["POST"]),
            Route("/v1/models", _models),
        ]
    )
    with serving(app, "fake-anthropic", port):
        yield fake
