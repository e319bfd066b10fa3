"""Running the tool calls of one model reply: concurrently, each ending in a text result.

Whatever happens to a call (bad arguments, an unknown tool, a repeat, a timeout, an
exception) the model gets a sentence back and the user sees a finished tool step; only
cancellation and the loop guard stop the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from agents.context import RunContext
from agents.errors import CadreError, ToolError
from agents.events import ToolCallFinished, ToolCallStarted
from agents.limits import LoopDetector, repeat_warning
from agents.models.base import ToolCall
from agents.tools import Tool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one call returned: its text for the model, and whether the call failed."""

    output: str
    is_error: bool = False
    crashed: bool = False
    """The tool raised an unexpected exception (logged): its text is not for the person."""


async def call_tools(
    ctx: RunContext, tools: Mapping[str, Tool], calls: Sequence[ToolCall], loops: LoopDetector
) -> list[ToolResult]:
    """Run `calls` concurrently and return their results in order (errors as sentences)."""
    verdicts = [loops.see(call.name, call.arguments) for call in calls]
    outputs = [ToolResult("")] * len(calls)

    async def one(index: int) -> None:
        call = calls[index]
        repeat = verdicts[index] == "repeat"
        outputs[index] = await _call(replace(ctx, call_id=call.id), tools, call, repeat)

    async with asyncio.TaskGroup() as group:
        for index, call in enumerate(calls):
            group.create_task(one(index), name=f"cadre-tool-{call.name}-{call.id}")
    return outputs


def _started(ctx: RunContext, call: ToolCall) -> float:
    ctx.emit(ToolCallStarted(**ctx.tags, call_id=call.id, tool=call.name, arguments=call.arguments))
    return time.perf_counter()


def _finished(ctx: RunContext, call: ToolCall, output: str, started: float, is_error: bool) -> None:
    ctx.emit(
        ToolCallFinished(
            **ctx.tags,
            call_id=call.id,
            tool=call.name,
            output=output,
            duration_s=time.perf_counter() - started,
            is_error=is_error,
        )
    )


async def _call(
    ctx: RunContext, tools: Mapping[str, Tool], call: ToolCall, repeat: bool
) -> ToolResult:
    tool = tools.get(call.name)
    if tool is not None and tool.delegate_to is not None and not repeat:
        try:
            # A delegation reports itself (DelegationStarted/Finished) and never raises for
            # an operator's failure; only a refused start (bad arguments, depth) lands here.
            return ToolResult(await tool.invoke(ctx, call.arguments))
        except CadreError as exc:
            _finished(ctx, call, str(exc), _started(ctx, call), is_error=True)
            return ToolResult(str(exc), is_error=True)
    started = _started(ctx, call)
    is_error, crashed = True, False
    try:
        if tool is None:
            output = (
                f"There is no tool named {call.name}. "
                f"Available tools: {', '.join(tools) or 'none'}."
            )
        elif repeat:
            output = repeat_warning(call.name)
        else:
            output, is_error = await _invoke(ctx, tool, call), False
    except asyncio.CancelledError:
        _finished(ctx, call, "Stopped.", started, is_error=True)
        raise
    except CadreError as exc:
        output = str(exc)
    except Exception as exc:
        log.exception("tool %s failed", call.name)
        output, crashed = f"{call.name} failed: {type(exc).__name__}: {exc}", True
    _finished(ctx, call, output, started, is_error=is_error)
    return ToolResult(output, is_error, crashed)


async def _invoke(ctx: RunContext, tool: Tool, call: ToolCall) -> str:
    timeout = tool.timeout_s if tool.timeout_s is not None else ctx.limits.tool_timeout_s
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await tool.invoke(ctx, call.arguments)
    except TimeoutError as exc:
        if scope.expired():
            raise ToolError(f"{tool.name} did not finish within {timeout:g} seconds.") from exc
        raise
