"""The OpenAI-compatible API under load: many streaming clients, every token checked.

Usage:  .venv/bin/python bench/api.py [--clients 50] [--tokens 64] [--rounds 2] [--token-ms 0]

A real `cadre serve` runs with a scripted model: its chat model is a remote provider
pointed at a local stand-in for OpenAI that answers each request with a known sequence of
numbered tokens derived from the question (`c17r1w000 c17r1w001 …`), one token per chunk.
Each answer is therefore checkable: a client must receive exactly its own tokens, each
once, in order. Both channels run the same turn (the Chief of Staff, one model call):

- api: `openai.AsyncOpenAI(...).chat.completions.create(stream=True)` against `/v1`, one
  client object (own connection) per simulated client, with a personal API key;
- socket: Chainlit's socket.io protocol, one signed-in chat per client, as a browser tab.

For each channel it measures one client at a time (sequential, `--rounds` × 10 turns) and
`--clients` at once (`--rounds` bursts): latency from the request to the last token
(p50/p95), time to the first token, and turns per second for the bursts. The ratio api /
socket of the medians is the API adapter's overhead against the chat's path (< 1: the API
is cheaper). Channels alternate, so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_ASKED = re.compile(r"client (\d+) round (\d+)")


def _import_repo_tests() -> None:
    # A third-party wheel installs a top-level `tests` package that shadows ours.
    package = types.ModuleType("tests")
    package.__path__ = [str(ROOT / "tests")]
    sys.modules["tests"] = package


def expected_tokens(client: int, round_: int, count: int) -> list[str]:
    """The answer the scripted model gives to client `client` in round `round_`."""
    return [f"c{client}r{round_}w{i:03d} " for i in range(count)]


def question(client: int, round_: int) -> str:
    return f"Bench: repeat the count for client {client} round {round_}."


def scripted_upstream(tokens: int, token_ms: float) -> object:
    """A Starlette app that streams `expected_tokens` for the client named in the request."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    async def completions(request: Request) -> Response:
        body = await request.json()
        asked = _ASKED.search(str(body["messages"][-1]["content"]))
        client, round_ = (int(asked[1]), int(asked[2])) if asked else (-1, -1)

        def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
            payload = {
                "id": "bench",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "bench",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            for token in expected_tokens(client, round_, tokens):
                yield chunk({"content": token})
                await asyncio.sleep(token_ms / 1000)
            yield chunk({}, "stop")
            usage = {
                "id": "bench",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "bench",
                "choices": [],
                "usage": {
                    "prompt_tokens": 50,
                    "completion_tokens": tokens,
                    "total_tokens": 50 + tokens,
                },
            }
            yield f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@dataclass
class Sample:
    """One turn as a client saw it."""

    total_s: float
    first_s: float
    ok: bool
    problem: str = ""


@dataclass
class Channel:
    name: str
    turn: Callable[[int, int], Awaitable[Sample]]
    sequential: list[Sample] = field(default_factory=list)
    burst: list[Sample] = field(default_factory=list)
    burst_wall: list[float] = field(default_factory=list)


def check(received: list[str], wanted: list[str]) -> str:
    """'' when the text of `received` is exactly that of `wanted`; else what went wrong."""
    text, want = "".join(received), "".join(wanted)
    if text == want:
        return ""
    got, expected = text.split(), [w.strip() for w in wanted]
    lost = len(set(expected) - set(got))
    common = set(expected) & set(got)
    in_order = [t for t in got if t in common] == [t for t in expected if t in common]
    return f"{lost} tokens lost, order {'kept' if in_order else 'BROKEN'}: {text[:80]!r}"


def api_channel(url: str, key: str, tokens: int) -> Callable[[int, int], Awaitable[Sample]]:
    import openai

    async def turn(client: int, round_: int) -> Sample:
        sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=600)
        pieces: list[str] = []
        first = 0.0
        started = time.perf_counter()
        try:
            stream = await sdk.chat.completions.create(
                model="cadre",
                messages=[{"role": "user", "content": question(client, round_)}],
                stream=True,
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    if not pieces:
                        first = time.perf_counter() - started
                    pieces.append(chunk.choices[0].delta.content)
        except openai.OpenAIError as exc:
            return Sample(time.perf_counter() - started, first, False, repr(exc))
        finally:
            await sdk.close()
        total = time.perf_counter() - started
        problem = check(pieces, expected_tokens(client, round_, tokens))
        return Sample(total, first, not problem, problem)

    return turn


def socket_channel(url: str, cookie: str, tokens: int) -> Callable[[int, int], Awaitable[Sample]]:
    from tests.support.chainlit_client import ChainlitClient, tokens_of

    async def turn(client: int, round_: int) -> Sample:
        chat = ChainlitClient(url, cookie=cookie)
        await chat.connect()
        try:
            sent = time.monotonic()
            started = time.perf_counter()
            events = await chat.ask(question(client, round_), timeout=600)
            total = time.perf_counter() - started
        except (TimeoutError, RuntimeError) as exc:
            return Sample(0.0, 0.0, False, repr(exc))
        finally:
            await chat.close()
        answers = [
            step["id"]
            for step in chat.messages(events).values()
            if step.get("type") == "assistant_message" and step.get("name") == "Chief of Staff"
        ]
        pieces = tokens_of(events, answers[-1]) if answers else []
        streamed = [e for e in events if e.name in ("stream_start", "stream_token")]
        first = (streamed[0].at - sent) if streamed else total
        problem = check([p for p in pieces if p], expected_tokens(client, round_, tokens))
        return Sample(total, first, not problem, problem)

    return turn


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> None:
    _import_repo_tests()
    from tests.support.cli import cadre, new_api_key
    from tests.support.local_http import serving
    from tests.support.server import cadre_server

    data = Path(tempfile.mkdtemp(prefix="cadre-bench-api-"))
    with (
        serving(scripted_upstream(args.tokens, args.token_ms), "scripted-upstream") as upstream,
        cadre_server(
            data,
            CADRE_OPENAI_BASE_URL=f"{upstream}/v1",
            CADRE_CHAT_MODEL="openai:bench",
            # Every client is the admin: the per-person limit would refuse most of them.
            CADRE_USER_MESSAGES_PER_MINUTE="0",
        ) as server,
    ):
        key = new_api_key(data, "admin")
        assert cadre(data, "keys", "list", "admin").returncode == 0
        channels = [
            Channel("api", api_channel(server.url, key, args.tokens)),
            Channel("socket", socket_channel(server.url, server.login(), args.tokens)),
        ]
        print(f"{args.clients} clients, {args.tokens} tokens per answer, {args.token_ms} ms/token")
        for channel in channels:  # warm-up, not counted
            warm = await channel.turn(0, 0)
            if not warm.ok:
                raise SystemExit(f"{channel.name} warm-up failed: {warm.problem}")
        next_round = 1
        for _ in range(args.rounds):
            for channel in channels:
                for _ in range(10):
                    channel.sequential.append(await channel.turn(0, next_round))
                    next_round += 1
            for channel in channels:
                started = time.perf_counter()
                burst = await asyncio.gather(
                    *(channel.turn(c, next_round) for c in range(1, args.clients + 1))
                )
                channel.burst_wall.append(time.perf_counter() - started)
                channel.burst.extend(burst)
                next_round += 1
    report(channels, args)


def report(channels: list[Channel], args: argparse.Namespace) -> None:
    print()
    print(
        "| channel | load | turns | intact | p50 latency s | p95 latency s | "
        "p50 first token s | turns/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    medians: dict[tuple[str, str], float] = {}
    for channel in channels:
        for load, samples, walls in (
            ("1 at a time", channel.sequential, []),
            (f"{args.clients} at once", channel.burst, channel.burst_wall),
        ):
            totals = [s.total_s for s in samples if s.ok]
            firsts = [s.first_s for s in samples if s.ok]
            intact = sum(s.ok for s in samples)
            rate = (
                f"{len(samples) / sum(walls):.1f}" if walls else f"{len(totals) / sum(totals):.1f}"
            )
            medians[(channel.name, load)] = statistics.median(totals) if totals else float("nan")
            print(
                f"| {channel.name} | {load} | {len(samples)} | {intact}/{len(samples)} | "
                f"{pct(totals, 0.5):.3f} | {pct(totals, 0.95):.3f} | {pct(firsts, 0.5):.3f} | "
                f"{rate} |"
            )
            for sample in samples:
                if not sample.ok:
                    print(f"  ! {channel.name}: {sample.problem}")
    print()
    for load in ("1 at a time", f"{args.clients} at once"):
        ratio = medians[("api", load)] / medians[("socket", load)]
        print(f"api / socket, median latency, {load}: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--token-ms", type=float, default=0.0, help="upstream delay per token")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
