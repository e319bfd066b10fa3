"""A local server that speaks Ollama's `/api/chat` (NDJSON streaming), `/api/tags`,
`/api/show` (a model's capabilities) and `/api/ps`."""

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


@dataclass
class OllamaReply:
    """One scripted answer: NDJSON lines, or an error status."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error: str = ""


def _line(content: str = "", done: bool = False, **extra: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "model": "llama3.2",
        "created_at": "2026-11-30T00:00:00Z",
        "message": {"role": "assistant", "content": content, **extra},
        "done": done,
    }
    if done:
        line |= {"done_reason": "stop", "prompt_eval_count": 21, "eval_count": 7}
    return line


def said(*pieces: str) -> OllamaReply:
    """Text in `pieces`, then the closing line with the token counts."""
    return OllamaReply([*(_line(piece) for piece in pieces), _line(done=True)])


def thought(thinking: str, answer: str) -> OllamaReply:
    """A thinking model's reply: its `thinking`, then the answer."""
    return OllamaReply([_line(thinking=thinking), _line(answer), _line(done=True)])


def calls(name: str, arguments: dict[str, Any]) -> OllamaReply:
    """One whole tool call, as Ollama sends it."""
    call = {"function": {"name": name, "arguments": arguments}}
    return OllamaReply([_line(tool_calls=[call]), _line(done=True)])


@dataclass
class FakeOllama:
    """The running server: `host` for the SDK, `replies` to script, `requests` to inspect."""

    host: str
    replies: list[OllamaReply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    loaded: list[tuple[str, int, int]] = field(default_factory=list)
    """What `/api/ps` reports as loaded: name, bytes in memory, bytes of it on the GPU."""
    capabilities: dict[str, list[str]] = field(
        default_factory=lambda: {"llama3.2": ["completion", "tools"]}
    )
    """What `/api/show` says each model can do (`thinking` for a reasoning model)."""
    shown: list[str] = field(default_factory=list)
    """The models `/api/show` was asked about, in order."""

    async def _chat(self, request: Request) -> Response:
        self.requests.append(await request.json())
        reply = self.replies.pop(0) if self.replies else OllamaReply(status=500, error="unscripted")
        if reply.status != 200:
            return JSONResponse({"error": reply.error}, reply.status)

        async def lines() -> AsyncIterator[bytes]:
            for line in reply.lines:
                yield (json.dumps(line) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def _tags(self, _: Request) -> Response:
        return JSONResponse({"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest"}]})

    async def _show(self, request: Request) -> Response:
        name = str((await request.json()).get("model", ""))
        self.shown.append(name)
        if name not in self.capabilities:
            return JSONResponse({"error": f"model '{name}' not found"}, 404)
        return JSONResponse(
            {
                "modelfile": "",
                "details": {"format": "gguf"},
                "model_info": {"general.architecture": "llama"},
                "capabilities": self.capabilities[name],
            }
        )

    async def _ps(self, _: Request) -> Response:
        loaded = [
            {"name": name, "model": name, "size": size, "size_vram": on_gpu}
            for name, size, on_gpu in self.loaded
        ]
        return JSONResponse({"models": loaded})


@contextmanager
def fake_ollama() -> Iterator[FakeOllama]:
    """Serve the fake on a free loopback port for the duration of the block."""
    port = free_port()
    fake = FakeOllama(f"http://127.0.0.1:{port}")
    app = Starlette(
        routes=[
            Route("/api/chat", fake._chat, methods=["POST"]),
            Route("/api/tags", fake._tags),
            Route("/api/show", fake._show, methods=["POST"]),
            Route("/api/ps", fake._ps),
        ]
    )
    with serving(app, "fake-ollama", port):
        yield fake
