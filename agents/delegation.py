"""Delegation as tools: one `delegate_to_<operator>` tool per operator, plus a `plan` tool.

A delegation records a `Task`, waits for a free slot of the operator, runs the operator as
a child run (its events stream into the parent's), and turns any failure or timeout into a
sentence the delegating agent can recover from.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pydantic import BaseModel, Field

from agents.context import RunContext
from agents.errors import CadreError, DeadlineExceeded, ToolError
from agents.events import DelegationFinished, DelegationStarted, TaskUpdated
from agents.limits import check_depth
from agents.models.base import Usage
from agents.scope import operator_scope
from agents.spec import AgentSpec, slugify
from agents.tasks import Priority, Task, TaskStatus, new_id
from agents.tools import Tool, tool

log = logging.getLogger(__name__)

_RECOVER = "answer with what you have, and say what is missing"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a delegation ended: the text the delegating agent reads, and the final task."""

    text: str
    ok: bool
    task: Task


def _title(instructions: str, limit: int = 60) -> str:
    first = instructions.strip().splitlines()[0] if instructions.strip() else "Sub-task"
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


async def _save(ctx: RunContext, task: Task) -> Task:
    await ctx.turn.tasks.save(task)
    ctx.emit(TaskUpdated(**ctx.tags, task=task))
    return task


async def _claim_task(
    ctx: RunContext, operator: AgentSpec, instructions: str, priority: Priority
) -> Task:
    """The first planned, unclaimed task for `operator`, or a new one."""
    turn = ctx.turn
    for planned in await turn.tasks.for_turn(turn.turn_id):
        if (
            planned.operator == operator.name
            and planned.status == "pending"
            and not planned.instructions
            and planned.id not in turn.claimed
        ):
            turn.claimed.add(planned.id)
            return replace(planned, instructions=instructions, priority=priority)
    return Task.create(turn.turn_id, operator.name, _title(instructions), instructions, priority)


def _operator_input(ctx: RunContext, instructions: str) -> str:
    request = ctx.turn.request.strip()
    if not request or instructions.strip() == request:
        return instructions
    return f"{instructions}\n\n(The user's original request, for context: {request})"


async def delegate(
    ctx: RunContext,
    operator: AgentSpec,
    instructions: str,
    priority: Priority = "normal",
    *,
    with_request: bool = True,
) -> Outcome:
    """Run `operator` on `instructions` as a child of `ctx`, with its task and events.

    With `with_request` the operator also reads the user's original request, for context;
    a step of a plan made in code does not need it (its instructions carry what it needs).

    Raises `DelegationError` only when the delegation may not start (depth limit);
    operator failures and timeouts come back as an `Outcome` with `ok=False`.
    """
    check_depth(ctx.depth, ctx.limits.max_depth, operator.name)
    executor = ctx.turn.executor
    call_id = ctx.call_id or new_id()
    child_run_id = new_id()
    task = await _save(ctx, await _claim_task(ctx, operator, instructions, priority))
    ctx.emit(
        DelegationStarted(
            **ctx.tags,
            call_id=call_id,
            operator=operator.name,
            instructions=instructions,
            task_id=task.id,
            child_run_id=child_run_id,
        )
    )
    started = time.perf_counter()
    child: RunContext | None = None
    ok = False
    status: TaskStatus
    try:
        async with executor.operator_slot(operator):
            task = await _save(ctx, task.start(child_run_id, instructions))
            # The operator's own time limit starts once it has a slot.
            child = ctx.child(operator.name, operator.limits.timeout_s, run_id=child_run_id)
            child.deps = operator_scope(child.deps, operator)
            given = _operator_input(ctx, instructions) if with_request else instructions
            text = await executor.run_agent(child, operator, given)
        ok, status, result = True, "done", text
    except asyncio.CancelledError:
        left = ctx.time_left()
        timed_out = left is not None and left <= 0
        status = "failed" if timed_out else "cancelled"
        result = "Stopped: the request ran out of time." if timed_out else "Stopped by the user."
        await _finish(ctx, task, child, call_id, child_run_id, started, status, result, result)
        raise
    except DeadlineExceeded as exc:
        status, result = "failed", str(exc)
        text = f"{result.rstrip('.')} — {_RECOVER}."
    except CadreError as exc:
        status, result = "failed", str(exc)
        text = f"The {operator.name} failed: {result.rstrip('.')} — {_RECOVER}."
    except Exception as exc:
        log.exception("operator %s failed", operator.name)
        status, result = "failed", f"{type(exc).__name__}: {exc}"
        text = f"The {operator.name} failed unexpectedly ({result}) — {_RECOVER}."
    task = await _finish(ctx, task, child, call_id, child_run_id, started, status, result, text)
    return Outcome(text, ok, task)


async def _finish(
    ctx: RunContext,
    task: Task,
    child: RunContext | None,
    call_id: str,
    child_run_id: str,
    started: float,
    status: TaskStatus,
    result: str,
    text: str,
) -> Task:
    usage = child.usage if child is not None else Usage()
    task = await _save(ctx, task.finish(status, result, usage))
    ctx.emit(
        DelegationFinished(
            **ctx.tags,
            call_id=call_id,
            operator=task.operator,
            task_id=task.id,
            child_run_id=child_run_id,
            output=text,
            is_error=status != "done",
            duration_s=time.perf_counter() - started,
            usage=usage,
        )
    )
    return task


def delegation_tool(operator: AgentSpec) -> Tool:
    """The `delegate_to_<operator>` tool: the operator as a tool its caller stays in charge of."""

    async def delegate_to(ctx: RunContext, instructions: str, priority: Priority = "normal") -> str:
        """Hand a sub-task over.

        Args:
            instructions: Everything the operator needs, self-contained: it sees the
                conversation but not your other tool results.
            priority: How urgent the sub-task is; shown in the task list.
        """
        return (await delegate(ctx, operator, instructions, priority)).text

    return tool(
        name=f"delegate_to_{operator.slug}",
        description=(
            f"Hand a sub-task to the {operator.name}. {operator.description.strip()} "
            f"Returns the {operator.name}'s answer."
        ),
        delegate_to=operator.name,
    )(delegate_to)


def delegation_tools(operators: Sequence[AgentSpec]) -> list[Tool]:
    """One delegation tool per operator of the roster."""
    return [delegation_tool(op) for op in operators]


class PlanStep(BaseModel):
    """One step of a plan."""

    operator: str = Field(description="The operator who does this step, by name.")
    title: str = Field(description="A short label for the task list, e.g. 'Compare contracts'.")


def plan_tool(operators: Sequence[AgentSpec]) -> Tool:
    """The `plan` tool: record the sub-tasks up front so the user sees them as a task list."""
    by_slug = {op.slug: op for op in operators}
    names = ", ".join(op.name for op in operators)

    def find(name: str) -> AgentSpec | None:
        return by_slug.get(slugify(name).removeprefix("delegate_to_"))

    async def plan(ctx: RunContext, steps: list[PlanStep]) -> str:
        """Show the user your plan as a task list before delegating.

        Call it once, first, for requests that need two or more operators. Then call the
        delegate tools: each delegation fills in the first planned step of its operator.

        Args:
            steps: The sub-tasks, in order.
        """
        if not steps:
            raise ToolError("A plan needs at least one step.")
        found = [(find(step.operator), step) for step in steps]
        unknown = [step.operator for operator, step in found if operator is None]
        if unknown:
            raise ToolError(f"Unknown operator(s): {', '.join(unknown)}. Use one of: {names}.")
        for operator, step in found:
            assert operator is not None
            await _save(ctx, Task.create(ctx.turn.turn_id, operator.name, step.title.strip()))
        return (
            f"Plan recorded as {len(steps)} task(s). Now delegate them; independent steps "
            "can be delegated in parallel (several delegate calls in one reply)."
        )

    return tool(plan)


async def close_open_tasks(ctx: RunContext) -> None:
    """At the end of a turn, mark tasks that never ran (planned but not delegated) cancelled."""
    for task in await ctx.turn.tasks.for_turn(ctx.turn.turn_id):
        if task.status in {"pending", "running"}:
            await _save(ctx, task.finish("cancelled", "Not done: the request ended first."))
