"""The cost of Cadre's provider layer: the OpenAI provider against the raw SDK, and a failover.

Usage:  .venv/bin/python bench/providers.py [--calls 40] [--tokens 200]

Both paths stream the same scripted reply (`--tokens` text chunks, then usage) from the same
local server speaking OpenAI's protocol (the one the tests use), alternating call by call:

- raw: `openai.AsyncOpenAI(...).chat.completions.create(stream=True)`, chunks read as they come;
- cadre: `OpenAICompatibleModel.stream` — the same SDK underneath, plus Cadre's message
  translation, retries-while-nothing-shown, circuit breaker and event translation.

Reported per path: time to first token (TTFT) and chunks per second after it, medians over
`--calls` calls, and cadre/raw as ratios. Then the failover: a chain whose first provider
answers every request with a 500 (one try each) and whose second is the working server,
against that second model alone; the difference in TTFT is what a failover adds, first
while the circuit breaker still tries the failing provider, then once it skips it.

The server runs in a thread of this process, so absolute figures include it; compare the
ratios, which both paths share.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import types
from collections.abc import AsyncIterator, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A `tests` package in site-packages would shadow ours: load this repository's explicitly.
_tests = types.ModuleType("tests")
_tests.__path__ = [str(ROOT / "tests")]
sys.modules["tests"] = _tests

from openai import AsyncOpenAI  # noqa: E402

from agents.models.base import ChatMessage, TextChunk  # noqa: E402
from agents.models.fallback import FallbackModel  # noqa: E402
from agents.models.openai_compatible import OpenAICompatibleModel, OpenAIConfig  # noqa: E402
from agents.models.resilience import RetryPolicy  # noqa: E402
from tests.models.openai_server import FakeOpenAI, fake_openai, text  # noqa: E402

QUESTION = [ChatMessage.user("Write about the fleet.")]
Timing = tuple[float, float]
"""(seconds to the first text chunk, chunks per second after it)."""


async def _timed(chunks: AsyncIterator[object], is_text: Callable[[object], bool]) -> Timing:
    """Time `chunks`, an iterator whose first step sends the request."""
    started = time.perf_counter()
    first: float | None = None
    count = 0
    async for chunk in chunks:
        if is_text(chunk):
            count += 1
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    assert first is not None, "no text arrived"
    rate = (count - 1) / (end - first) if end > first and count > 1 else float("nan")
    return first - started, rate


async def raw_call(client: AsyncOpenAI) -> Timing:
    """The SDK alone (the request is sent inside the timed iterator, as Cadre's is)."""

    async def chunks() -> AsyncIterator[object]:
        stream = await client.chat.completions.create(
            model="test-model",
            messages=[{"role": "user", "content": QUESTION[0].content}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            yield chunk

    return await _timed(
        chunks(), lambda c: bool(getattr(c, "choices", None) and c.choices[0].delta.content)
    )


async def cadre_call(model: object) -> Timing:
    """Cadre's provider."""
    assert isinstance(model, OpenAICompatibleModel | FallbackModel)
    return await _timed(model.stream(QUESTION), lambda e: isinstance(e, TextChunk))


def _median(values: list[float]) -> float:
    return statistics.median(v for v in values if v == v)  # NaN-free


async def bench(args: argparse.Namespace) -> None:
    """Run both comparisons and print the tables."""
    pieces = [f"word{i} " for i in range(args.tokens)]
    with fake_openai() as server:
        config = OpenAIConfig(base_url=server.url, api_key="sk-bench", retry=RetryPolicy(1))
        cadre = OpenAICompatibleModel("test-model", config)
        client = AsyncOpenAI(base_url=server.url, api_key="sk-bench", max_retries=0)
        raw: list[Timing] = []
        ours: list[Timing] = []
        for index in range(args.calls + 2):  # two warm-up rounds, not counted
            server.replies += [text(*pieces), text(*pieces)]
            pair = [raw_call(client), cadre_call(cadre)]
            if index % 2:
                pair.reverse()
            first, second = [await call for call in pair]
            got_raw, got_cadre = (second, first) if index % 2 else (first, second)
            if index >= 2:
                raw.append(got_raw)
                ours.append(got_cadre)
        await client.close()
        _report_overhead(args, raw, ours)
        await _failover(args, server, pieces)


def _report_overhead(args: argparse.Namespace, raw: list[Timing], ours: list[Timing]) -> None:
    raw_ttft, raw_rate = _median([t for t, _ in raw]), _median([r for _, r in raw])
    our_ttft, our_rate = _median([t for t, _ in ours]), _median([r for _, r in ours])
    print(f"# Provider layer: {args.calls} calls per path, {args.tokens} chunks each\n")
    print("| path | TTFT p50 ms | chunks/s p50 |")
    print("|---|---|---|")
    print(f"| raw openai SDK | {raw_ttft * 1000:.1f} | {raw_rate:,.0f} |")
    print(f"| Cadre OpenAI provider | {our_ttft * 1000:.1f} | {our_rate:,.0f} |")
    print(f"| cadre/raw | {our_ttft / raw_ttft:.2f} | {our_rate / raw_rate:.2f} |\n")


async def _failover(args: argparse.Namespace, server: FakeOpenAI, pieces: list[str]) -> None:
    def on(url: str) -> OpenAIConfig:
        return OpenAIConfig(base_url=url, api_key="sk-bench", retry=RetryPolicy(1))

    backup = OpenAICompatibleModel("backup-model", on(server.url))
    alone: list[float] = []
    for _ in range(args.calls):
        server.replies.append(text(*pieces[:20]))
        alone.append((await cadre_call(backup))[0])
    with fake_openai() as down:  # answers every request with a 500: nothing is scripted
        chain = FallbackModel([OpenAICompatibleModel("down-model", on(down.url)), backup])
        tried: list[float] = []
        skipped: list[float] = []
        for _ in range(args.calls):
            server.replies.append(text(*pieces[:20]))
            asked = len(down.requests)
            ttft = (await cadre_call(chain))[0]
            (tried if len(down.requests) > asked else skipped).append(ttft)
    solo = _median(alone)
    print(f"# Failover: the first provider answers 500, {args.calls} calls\n")
    print("| path | calls | TTFT p50 ms | added ms |")
    print("|---|---|---|---|")
    print(f"| backup model alone | {len(alone)} | {solo * 1000:.1f} | |")
    for label, times in (
        ("chain, first provider tried (breaker closed)", tried),
        ("chain, first provider skipped (breaker open)", skipped),
    ):
        if times:
            median = _median(times)
            added = (median - solo) * 1000
            print(f"| {label} | {len(times)} | {median * 1000:.1f} | {added:.1f} |")


def main() -> None:
    """Parse the options and run the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=200)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
