"""Small builders for agent tests: scripted models wired into a runner and a Chief of Staff."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from agents import (
    AgentSpec,
    ChiefOfStaff,
    InMemoryTaskStore,
    RunEvent,
    Runner,
    SemanticRouter,
    builtin_tools,
)
from agents.models.base import ChatModel, ToolCall
from agents.models.registry import ModelRegistry

E = TypeVar("E")


@dataclass
class Team:
    """A Chief of Staff with its runner and task store."""

    chief: ChiefOfStaff
    runner: Runner
    store: InMemoryTaskStore


def on(spec: AgentSpec, model: ChatModel, **changes: Any) -> AgentSpec:
    """`spec`, running on `model`."""
    return replace(spec, model=model.id, **changes)


def team(
    chief_model: ChatModel,
    operators: Sequence[tuple[AgentSpec, ChatModel]],
    *,
    router: SemanticRouter | None = None,
    **runner_options: Any,
) -> Team:
    """A Chief of Staff on `chief_model` whose operators each run on their own model."""
    registry = ModelRegistry()
    specs = []
    for spec, model in operators:
        registry.add(model)
        specs.append(on(spec, model))
    store = InMemoryTaskStore()
    options = {"tools": builtin_tools(), **runner_options}
    runner = Runner(chief_model, models=registry, tasks=store, **options)
    return Team(ChiefOfStaff(runner, operators=specs, router=router), runner, store)


def call(name: str, call_id: str | None = None, **arguments: Any) -> ToolCall:
    """A tool call a scripted model makes."""
    return ToolCall(call_id or f"call-{name}", name, arguments)


async def collect(events: AsyncIterator[RunEvent]) -> list[RunEvent]:
    """Every event of a stream."""
    return [event async for event in events]


def of(events: Sequence[RunEvent], kind: type[E]) -> list[E]:
    """The events of one class, in order."""
    return [e for e in events if isinstance(e, kind)]


def kinds(events: Sequence[RunEvent], run_id: str | None = None) -> list[str]:
    """The `kind` of each event (of one run, if given)."""
    return [e.kind for e in events if run_id is None or e.run_id == run_id]
