"""Planning accuracy of the Chief of Staff's planner on single-purpose and multi-part requests.

Usage:  .venv/bin/python bench/planning.py [--model local:NAME] [--limit N] [--errors] [--dev-only]

Runs `agents.planner.Planner` on two labelled sets and prints accuracy for the held-out
`test` split (the headline figure) and the `dev` split:

- the 320 single-purpose requests of `tests/data/routing_requests.jsonl`: a plan is right
  when its operators are exactly `[label]`, or no operator at all for `none`;
- the multi-part requests of `tests/data/multipart_requests.jsonl`, which need two or
  three operators in a given order: a plan is right when its operators are exactly the
  labelled sequence (order matters); the "same set" column ignores order.

The router alone (its single route, or no operator) is scored in the same run as the
baseline the planner must beat: it can never get a multi-part request right. Latency is
per request, planner and router measured separately, after the model has loaded.

Honesty: tune the planner's prompt, examples and thresholds on `dev` only
(`--dev-only --errors` lists the dev misses and never runs `test`); the multi-part dev and
test requests were written independently, not as paraphrases of each other, and the two
examples quoted in the planner's design (the fleet note to the board, the supplier's late
delivery penalties) are in dev, so they may serve as prompt examples. The run
counts (and lists) test requests that appear verbatim among the strings of
`agents/planner.py` or the roster's routing examples.

A full run plans 410 requests; the model is asked only when the planner decides to (the
table under "Latency" says how often), so its speed and the run's length depend on the
planner. `--limit 10` scores 10 requests of each set, spread over labels and splits, for
a quick check.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.errors import CadreError
from agents.models.base import (
    Capabilities,
    ChatMessage,
    ChatModel,
    ModelEvent,
    ModelOptions,
    ToolSpec,
    Usage,
)
from agents.models.local import LocalModel, LocalModelConfig
from agents.planner import Planner
from agents.roster import CHIEF_OF_STAFF, OPERATORS
from agents.router import SemanticRouter
from knowledge.embedder import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[1]
SINGLE = ROOT / "tests" / "data" / "routing_requests.jsonl"
MULTI = ROOT / "tests" / "data" / "multipart_requests.jsonl"
MODELS = ("local:qwen2.5-1.5b", "local:qwen2.5-0.5b", "local:smollm2")
SETS = ("single-purpose", "multi-part")

Operators = tuple[str, ...]
"""Lower-case operator names in the order the work happens; `()` when the CoS answers."""


@dataclass(frozen=True, slots=True)
class Request:
    """One labelled request of either set."""

    text: str
    expected: Operators
    split: str
    kind: str
    """`single-purpose` or `multi-part`."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the planner (or the router) did with one request."""

    planned: Operators
    ms: float
    reason: str = ""
    error: str | None = None
    """The exception's class name when planning raised a `CadreError`."""
    model_calls: int = 0
    """How many times the planner asked the model while planning this request."""


class CountingModel:
    """Passes every call through to `model`, counting calls and output tokens."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.calls = 0
        self.output_tokens = 0

    @property
    def id(self) -> str:
        """The wrapped model's id."""
        return self.model.id

    @property
    def capabilities(self) -> Capabilities:
        """The wrapped model's capabilities."""
        return self.model.capabilities

    async def warm(self) -> None:
        """Load the wrapped model."""
        await self.model.warm()

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        options: ModelOptions | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """The wrapped model's stream, counted."""
        self.calls += 1
        async for event in self.model.stream(messages, tools, options):
            if isinstance(event, Usage):
                self.output_tokens += event.output_tokens
            yield event


def load() -> list[Request]:
    """Both labelled sets as one list, single-purpose first."""
    requests = []
    for line in SINGLE.read_text(encoding="utf-8").splitlines():
        if line:
            row = json.loads(line)
            plan: Operators = () if row["label"] == "none" else (row["label"],)
            requests.append(Request(row["text"], plan, row["split"], SETS[0]))
    for line in MULTI.read_text(encoding="utf-8").splitlines():
        if line:
            row = json.loads(line)
            requests.append(Request(row["text"], tuple(row["operators"]), row["split"], SETS[1]))
    return requests


def spread(requests: list[Request], limit: int | None) -> list[Request]:
    """At most `limit` requests of each set, evenly spaced so labels and splits mix."""
    if limit is None:
        return requests
    kept = []
    for kind in SETS:
        rows = [r for r in requests if r.kind == kind]
        step = max(1, len(rows) // limit)
        kept += rows[::step][:limit]
    return kept


def show(plan: Operators) -> str:
    """A plan as `researcher→writer`, or `none`."""
    return "→".join(plan) if plan else "none"


def shown(outcome: Outcome) -> str:
    """What the planner produced, errors included."""
    return f"error ({outcome.error})" if outcome.error else show(outcome.planned)


def exact(request: Request, outcome: Outcome) -> bool:
    """The same operators in the same order."""
    return outcome.error is None and outcome.planned == request.expected


def same_set(request: Request, outcome: Outcome) -> bool:
    """The same operators in any order."""
    return outcome.error is None and set(outcome.planned) == set(request.expected)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (`q` in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def leaked(test: list[Request]) -> list[str]:
    """Test requests found among the roster's examples or the planner module's strings.

    A request counts when it equals one of those strings, or, at four words or more, when
    it appears inside one (a few-shot prompt); shorter ones ("ok") would match by chance.
    """
    source = Path(sys.modules[Planner.__module__].__file__ or "").read_text(encoding="utf-8")
    strings = [
        node.value.lower()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    strings += [e.lower() for op in (*OPERATORS, CHIEF_OF_STAFF) for e in op.examples]
    found = []
    for request in test:
        text = request.text.lower()
        long = len(text.split()) >= 4
        if any(text == s or (long and text in s) for s in strings):
            found.append(request.text)
    return found


async def run_planner(
    planner: Planner, model: CountingModel, requests: list[Request]
) -> list[Outcome]:
    """Plan every request in turn; a `CadreError` counts as a miss, anything else stops."""
    outcomes = []
    started = time.perf_counter()
    for i, request in enumerate(requests, 1):
        calls = model.calls
        began = time.perf_counter()
        try:
            plan = await planner.plan(request.text)
        except CadreError as exc:
            ms = (time.perf_counter() - began) * 1000
            called = model.calls - calls
            outcomes.append(Outcome((), ms, str(exc), type(exc).__name__, called))
        else:
            ms = (time.perf_counter() - began) * 1000
            planned = tuple(step.operator.lower() for step in plan.steps)
            outcomes.append(Outcome(planned, ms, plan.reason, None, model.calls - calls))
        if i % 10 == 0 or i == len(requests):
            elapsed = time.perf_counter() - started
            left = elapsed / i * (len(requests) - i)
            print(f"  planned {i}/{len(requests)}, ~{left / 60:.0f} min left", file=sys.stderr)
    return outcomes


def run_router(router: SemanticRouter, requests: list[Request]) -> list[Outcome]:
    """The router alone: its route as a one-step plan, or no operator."""
    outcomes = []
    for request in requests:
        began = time.perf_counter()
        route = router.route(request.text)
        ms = (time.perf_counter() - began) * 1000
        planned: Operators = (route.operator.lower(),) if route.operator else ()
        outcomes.append(Outcome(planned, ms, route.reason))
    return outcomes


Scored = list[tuple[Request, Outcome, Outcome]]
"""Each request with the planner's and the router's outcome."""


def _row(label: str, rows: Scored) -> str:
    """One table row: planner exact, planner same set, router exact."""

    def share(hits: int) -> str:
        return f"{hits / len(rows):.1%}" if rows else "-"

    planner_exact = sum(exact(r, p) for r, p, _ in rows)
    planner_set = sum(same_set(r, p) for r, p, _ in rows)
    router_exact = sum(exact(r, b) for r, _, b in rows)
    return (
        f"| {label} | {len(rows)} | {share(planner_exact)} | {share(planner_set)} | "
        f"{share(router_exact)} |"
    )


def report(title: str, scored: Scored) -> None:
    """Accuracy per set and per expected plan, then the commonest planner errors."""
    header = "| requests | planner exact | planner same set | router only exact |"
    print(f"\n## {title}\n")
    print(f"| set {header}")
    print("|---|---|---|---|---|")
    for kind in (*SETS, "both"):
        print(_row(kind, [s for s in scored if kind in (s[0].kind, "both")]))
    print("\nper expected plan\n")
    print(f"| expected {header}")
    print("|---|---|---|---|---|")
    for plan in dict.fromkeys(r.expected for r, _, _ in scored):
        print(_row(show(plan), [s for s in scored if s[0].expected == plan]))

    errors = Counter((show(r.expected), shown(p)) for r, p, _ in scored if not exact(r, p))
    print(f"\nmost common planner errors ({sum(errors.values())} misses)\n")
    print("| expected | planned | count |")
    print("|---|---|---|")
    for (expected, planned), count in errors.most_common(10):
        print(f"| {expected} | {planned} | {count} |")


def latency(name: str, outcomes: list[Outcome]) -> str:
    """One table row: p50, p95 and mean milliseconds."""
    ms = [o.ms for o in outcomes]
    return (
        f"| {name} | {percentile(ms, 0.5):.0f} | {percentile(ms, 0.95):.0f} | "
        f"{statistics.fmean(ms):.0f} |"
    )


def misses(scored: Scored) -> None:
    """List the dev requests the planner got wrong, with its reason."""
    print("\n## Planner misses, dev split\n")
    for request, outcome, _ in scored:
        if request.split == "dev" and not exact(request, outcome):
            reason = outcome.reason.replace("\n", " ")
            print(f"- [{show(request.expected)} → {shown(outcome)}] {request.text!r} ({reason})")


async def _run(args: argparse.Namespace) -> None:
    everything = load()
    requests = [r for r in everything if r.split == "dev" or not args.dev_only]
    requests = spread(requests, args.limit)
    print("# Planner benchmark\n")
    for kind in SETS:
        dev = sum(r.kind == kind and r.split == "dev" for r in everything)
        test = sum(r.kind == kind and r.split == "test" for r in everything)
        print(f"{kind}: {dev + test} labelled requests ({dev} dev, {test} test).")
    limited = f", at most {args.limit} of each set" if args.limit else ""
    print(f"This run scores {len(requests)}{limited}{' (dev only)' if args.dev_only else ''}.")
    multi = Counter(show(r.expected) for r in everything if r.kind == SETS[1])
    print(f"Multi-part sequences: {dict(multi)}.")
    found = leaked([r for r in everything if r.split == "test"])
    print(f"Test requests found verbatim in the planner or the roster's examples: {len(found)}.")
    for text in found:
        print(f"- {text!r}")

    started = time.perf_counter()
    router = SemanticRouter(SentenceTransformerEmbedder(), OPERATORS, CHIEF_OF_STAFF.examples)
    router_s = time.perf_counter() - started
    name = args.model.removeprefix("local:")
    local = LocalModel(name, LocalModelConfig(cache_dir=ROOT / "data" / "models"))
    model = CountingModel(local)
    started = time.perf_counter()
    await model.warm()
    runtime = local.runtime
    where = f"{runtime.name} on {runtime.device}" if runtime else "?"
    constrained = "yes" if model.capabilities.constrained_tools else "no"
    print(
        f"Model: {model.id} ({where}, schema-constrained tool calls: {constrained}), loaded in "
        f"{time.perf_counter() - started:.1f} s. Router (MiniLM) built in {router_s:.1f} s."
    )
    planner = Planner(router, OPERATORS)

    started = time.perf_counter()
    planned = await run_planner(planner, model, requests)
    planner_s = time.perf_counter() - started
    routed = run_router(router, requests)
    scored = list(zip(requests, planned, routed, strict=True))

    if not args.dev_only:
        report("Held-out test split (headline)", [s for s in scored if s[0].split == "test"])
    report("Dev split (tuning)", [s for s in scored if s[0].split == "dev"])

    print(f"\n## Latency per request ({len(requests)} requests, model loaded)\n")
    print("| | p50 ms | p95 ms | mean ms |")
    print("|---|---|---|---|")
    print(latency("planner, every request", planned))
    asked = [o for o in planned if o.model_calls]
    if asked:
        print(latency("planner, requests it asked the model about", asked))
    print(latency("router only (embed + score)", routed))
    print(
        f"\nThe planner asked the model about {len(asked)} of {len(requests)} requests "
        f"({model.calls} calls, {model.output_tokens} output tokens); "
        f"planner total {planner_s / 60:.1f} min."
    )
    if args.errors or args.dev_only:
        misses(scored)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODELS[0], help=f"one of {', '.join(MODELS)}")
    parser.add_argument("--limit", type=int, help="score only N requests of each set")
    parser.add_argument("--errors", action="store_true", help="list the planner's dev misses")
    parser.add_argument("--dev-only", action="store_true", help="tuning: do not touch test")
    args = parser.parse_args()
    if not args.model.startswith("local:"):
        parser.error(f"--model must be local:NAME, e.g. {MODELS[0]}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
