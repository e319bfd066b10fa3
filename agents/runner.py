"""`Runner`: runs agents (model ↔ tool loop) and streams every event of the user turn.

One user turn is one root run (usually the Chief of Staff) plus the runs it delegates to.
All of them push events into one queue, so child events reach the consumer as they happen.
The consumer stops the whole tree by cancelling the task that iterates `stream()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from agents.cited_answer import answer_from_passages, checked_answer
from agents.context import RunContext, TurnState
from agents.delegation import close_open_tasks
from agents.errors import (
    CadreError,
    ConfigError,
    DeadlineExceeded,
    ModelNotFound,
    TurnLimitExceeded,
)
from agents.events import (
    CallOutcome,
    Notice,
    Queued,
    ReasoningDelta,
    RunEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    TextDelta,
    UsageReported,
)
from agents.knowledge_tools import nothing_found_reply, shown_passages
from agents.limits import LoopDetector, TurnLimits
from agents.models import base
from agents.models.base import ChatMessage, ChatModel, Completion, ModelOptions
from agents.models.context import ApproximateCounter
from agents.models.fallback import FallbackModel
from agents.models.prices import PriceTable
from agents.models.queue import PrioritySemaphore
from agents.models.reasoning import split_reasoning
from agents.models.registry import ModelRegistry
from agents.prompt_guard import WITHHELD, LeakGuard, with_canary
from agents.scrub import scrub_error
from agents.spec import AgentSpec
from agents.tasks import InMemoryTaskStore, TaskStore, new_id
from agents.tool_calls import call_tools
from agents.tools import Tool

log = logging.getLogger(__name__)

Body = Callable[[RunContext], Awaitable[str]]
"""The root of a turn: given the root context, do the work and return the final answer."""

_counter = ApproximateCounter()
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> set[str]:
    """The numbers written in `text`, without thousands separators."""
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


FROM_RESULTS = (
    "Answer from these results in one to three sentences. Do not describe steps you did "
    "not take: code computed them."
)
"""Given a count over a whole file, the bundled model told of opening it in a spreadsheet
program and counting the rows by hand, in 20 lines, before giving the count."""


async def _primed(
    ctx: RunContext,
    tools: Mapping[str, Tool],
    needed: Sequence[Tool],
    request: str,
    loops: LoopDetector,
) -> str:
    """`request` with what the needed tools see, for the model to write its call from.

    Asked "How many of them are LTS releases?", the bundled model counted a column it made
    up; told the sheet's columns and their values ("version": 6.06 LTS, …), it can write
    the condition.
    """
    primers = [base.ToolCall(new_id(), t.name, dict(t.primer)) for t in needed if t.primer]
    if not primers:
        return request
    seen = await call_tools(ctx, tools, primers, loops)
    return "\n\n".join([request, *(r.output for r in seen if not r.is_error)])


def _call_key(call: base.ToolCall) -> tuple[str, str]:
    return call.name, json.dumps(call.arguments, sort_keys=True)


def _deadline_message(ctx: RunContext) -> str:
    if ctx.parent_run_id is None or ctx.deadline == ctx.turn.deadline:
        seconds = ctx.turn.limits.deadline_s or 0
        return (
            f"This request hit its {seconds:g}-second time limit, so I stopped. "
            "Ask for less at once, or raise the time limit in the settings."
        )
    return f"The {ctx.agent} did not finish within its {ctx.timeout_s or 0:g}-second limit."


async def observe_run(ctx: RunContext, model_id: str, input: str, work: Body) -> str:
    """Run `work` as the run `ctx`: report start and end, and enforce the run's deadline."""
    started = time.perf_counter()
    ctx.emit(
        RunStarted(**ctx.tags, model=model_id, input=input, depth=ctx.depth, started_at=time.time())
    )
    scope = asyncio.timeout_at(ctx.deadline)
    try:
        async with scope:
            output = await work(ctx)
    except asyncio.CancelledError:
        ctx.emit(
            RunFailed(
                **ctx.tags,
                error=f"The {ctx.agent} was stopped.",
                error_type="CancelledError",
                cancelled=True,
                duration_s=time.perf_counter() - started,
            )
        )
        raise
    except Exception as exc:
        error: Exception = exc
        if isinstance(exc, TimeoutError) and scope.expired():
            error = DeadlineExceeded(_deadline_message(ctx))
        elif not isinstance(exc, CadreError):
            log.exception("%s run %s failed", ctx.agent, ctx.run_id)
        message = str(error) if isinstance(error, CadreError) else f"{type(exc).__name__}: {exc}"
        message = scrub_error(message)  # shown to the person: no keys, paths or tracebacks
        ctx.emit(
            RunFailed(
                **ctx.tags,
                error=message,
                error_type=type(error).__name__,
                cancelled=False,
                duration_s=time.perf_counter() - started,
                exception=error,
            )
        )
        if error is exc:
            raise
        raise error from exc
    ctx.emit(
        RunFinished(
            **ctx.tags, output=output, usage=ctx.usage, duration_s=time.perf_counter() - started
        )
    )
    return output


async def final_output(events: AsyncGenerator[RunEvent, None]) -> str:
    """Drain a turn's events; return the root's answer or raise why it failed."""
    output: str | None = None
    failure: RunFailed | None = None
    async with aclosing(events):
        async for event in events:
            if event.parent_run_id is None and isinstance(event, RunFinished):
                output = event.output
            elif event.parent_run_id is None and isinstance(event, RunFailed):
                failure = event
    if failure is not None:
        raise failure.exception or CadreError(failure.error)
    if output is None:
        raise CadreError("The run ended without an answer.")
    return output


class Runner:
    """Runs agents with a default model, a tool registry, task storage and turn limits.

    Keep one runner per app: the per-operator concurrency slots are shared by every turn.
    """

    def __init__(
        self,
        model: ChatModel,
        *,
        models: ModelRegistry | None = None,
        tools: Iterable[Tool] = (),
        tasks: TaskStore | None = None,
        limits: TurnLimits | None = None,
        prices: PriceTable | None = None,
        options: ModelOptions | None = None,
        fall_back_to_default: bool = False,
    ) -> None:
        self.model = model
        """Used by agents whose spec names no model."""
        self.fall_back_to_default = fall_back_to_default
        """An agent's own model that fails before answering, or cannot be had, gives way to
        `model` with a notice in the step; otherwise its failure is the run's."""
        self.models = models
        self.tools: dict[str, Tool] = {t.name: t for t in tools}
        """The tool registry that `AgentSpec.tools` names resolve against."""
        self.tasks = tasks
        """Where every turn keeps its tasks; `None` gives each turn its own in memory (the app
        files them from the `TaskUpdated` events, under the user and thread of the turn)."""
        self.limits = limits or TurnLimits()
        self.prices = prices or PriceTable()
        """Prices per model id, for the cost in `UsageReported`."""
        self.options = options
        self._slots: dict[str, PrioritySemaphore] = {}

    # --- resolution -------------------------------------------------------------------

    def resolve_model(self, agent: AgentSpec) -> ChatModel:
        """The model `agent` runs on.

        With `fall_back_to_default`, a model of its own (an admin's pick, a chat's pick) has
        the runner's model behind it: when it fails before answering, the default answers and
        the step says "switched to".
        """
        if agent.model is None or agent.model == self.model.id:
            return self.model
        if self.models is None:
            raise ConfigError(
                f"The {agent.name} asks for model {agent.model!r}, but the runner has no model "
                "registry; pass `models=` to Runner or clear the agent's model."
            )
        own = self.models.resolve(agent.model)
        return FallbackModel([own, self.model]) if self.fall_back_to_default else own

    def _model_for(self, ctx: RunContext, agent: AgentSpec) -> ChatModel:
        """`resolve_model`, except that a model that cannot be had any more (its provider
        was unconfigured since an admin chose it) gives way to the default, with a notice."""
        try:
            return self.resolve_model(agent)
        except ModelNotFound as exc:
            if not self.fall_back_to_default or agent.model is None or self.models is None:
                raise
            log.warning("%s: %s; using %s", agent.name, exc, self.model.id)
            notice = f"{agent.model} is not available ({exc}) — switched to {self.model.id}"
            ctx.emit(Notice(**ctx.tags, text=notice))
            return self.model

    def resolve_tools(self, agent: AgentSpec, extra: Sequence[Tool] = ()) -> list[Tool]:
        """The tools `agent` may call: its named tools from the registry, plus `extra`."""
        missing = [name for name in agent.tools if name not in self.tools]
        if missing:
            known = ", ".join(sorted(self.tools)) or "none"
            raise ConfigError(
                f"The {agent.name} needs tools that are not registered: {', '.join(missing)} "
                f"(registered: {known}). Register them with Runner(tools=...)."
            )
        return [self.tools[name] for name in agent.tools] + list(extra)

    def operator_slot(self, agent: AgentSpec) -> PrioritySemaphore:
        """The semaphore capping concurrent runs of `agent` (waiters go by priority)."""
        slot = self._slots.get(agent.name)
        if slot is None:
            slot = self._slots[agent.name] = PrioritySemaphore(agent.limits.max_concurrency)
        return slot

    # --- turns ------------------------------------------------------------------------

    def stream(
        self,
        agent: AgentSpec,
        request: str,
        *,
        history: Sequence[ChatMessage] = (),
        deps: Any = None,
        tools: Sequence[Tool] = (),
    ) -> AsyncGenerator[RunEvent, None]:
        """Run `agent` on the user's `request` as a new turn, yielding every event of the tree."""

        async def body(ctx: RunContext) -> str:
            return await self.run_agent(ctx, agent, request, tools=tools)

        return self.stream_turn(agent.name, request, body, history=history, deps=deps)

    async def run(
        self,
        agent: AgentSpec,
        request: str,
        *,
        history: Sequence[ChatMessage] = (),
        deps: Any = None,
        tools: Sequence[Tool] = (),
    ) -> str:
        """Like `stream`, but return only the final answer (raising if the run failed)."""
        return await final_output(
            self.stream(agent, request, history=history, deps=deps, tools=tools)
        )

    async def stream_turn(
        self,
        agent: str,
        request: str,
        body: Body,
        *,
        history: Sequence[ChatMessage] = (),
        deps: Any = None,
    ) -> AsyncGenerator[RunEvent, None]:
        """Run `body` as the root run of a new turn and yield the events of the whole tree.

        Failures the user should read (`CadreError`) end the stream with the root's
        `RunFailed`; unexpected exceptions are re-raised after it. Cancelling the consumer
        cancels every run, tool and generation of the turn before this generator exits.
        """
        queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        root_ended = False

        def emit(event: RunEvent) -> None:
            nonlocal root_ended
            if event.run_id == run_id and isinstance(event, RunFinished | RunFailed):
                root_ended = True
            queue.put_nowait(event)

        deadline = None if self.limits.deadline_s is None else loop.time() + self.limits.deadline_s
        run_id = new_id()
        turn = TurnState(
            turn_id=run_id,
            limits=self.limits,
            emit=emit,
            tasks=self.tasks if self.tasks is not None else InMemoryTaskStore(),
            executor=self,
            request=request,
            history=tuple(history),
            deadline=deadline,
        )
        ctx = RunContext(
            turn=turn,
            agent=agent,
            run_id=run_id,
            deadline=deadline,
            timeout_s=self.limits.deadline_s,
            deps=deps,
        )

        def report(exc: Exception) -> None:
            # Normally the root run reports its own failure; this covers a body that
            # failed before its run started.
            if not root_ended:
                message = (
                    str(exc) if isinstance(exc, CadreError) else f"{type(exc).__name__}: {exc}"
                )
                emit(
                    RunFailed(
                        **ctx.tags,
                        error=message,
                        error_type=type(exc).__name__,
                        cancelled=False,
                        duration_s=0.0,
                        exception=exc,
                    )
                )

        async def main() -> None:
            try:
                await body(ctx)
            except CadreError as exc:
                report(exc)  # the RunFailed event carries the sentence for the user
            except Exception as exc:
                report(exc)
                raise
            finally:
                await close_open_tasks(ctx)
                queue.put_nowait(None)

        task = asyncio.create_task(main(), name=f"cadre-turn-{run_id}")
        try:
            while (event := await queue.get()) is not None:
                yield event
            await task
        finally:
            if not task.done():
                turn.stop.set()
                task.cancel()
                await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved here; re-raised above when it mattered

    # --- one run ----------------------------------------------------------------------

    async def run_agent(
        self, ctx: RunContext, agent: AgentSpec, input: str, *, tools: Sequence[Tool] = ()
    ) -> str:
        """Run `agent` on `input` as the run `ctx` and return its answer.

        Models with tool calling get a model ↔ tool loop. Models without it get a fixed
        policy: tools that can derive their calls from the request run first, then the
        model answers once with their results in the prompt.
        """

        async def work(ctx: RunContext) -> str:
            # Resolved inside the run so a misconfigured agent fails as a visible run.
            model = self._model_for(ctx, agent)
            available = self.resolve_tools(agent, tools)
            if model.capabilities.tools:
                return await self._tool_loop(ctx, agent, model, input, available)
            return await self._fixed_policy(ctx, agent, model, input, available)

        return await observe_run(ctx, agent.model or self.model.id, input, work)

    def _opening(self, ctx: RunContext, agent: AgentSpec, input: str) -> list[ChatMessage]:
        return [ChatMessage.system(agent.instructions), *ctx.turn.history, ChatMessage.user(input)]

    async def _tool_loop(
        self, ctx: RunContext, agent: AgentSpec, model: ChatModel, input: str, tools: list[Tool]
    ) -> str:
        messages = self._opening(ctx, agent, input)
        by_name = {t.name: t for t in tools}
        specs = [t.spec for t in tools]
        loops = LoopDetector(agent.name, ctx.limits.loop_warnings)
        for _ in range(agent.limits.max_turns):
            ctx.check_budget()
            reply = await self.generate(ctx, model, messages, specs)
            if not reply.tool_calls:
                if agent.grounded and shown_passages(ctx) and reply.text != WITHHELD:
                    return checked_answer(ctx, input, reply.text, scaffolding=(agent.instructions,))
                return reply.text
            messages.append(ChatMessage.assistant(reply.text, reply.tool_calls))
            results = await call_tools(ctx, by_name, reply.tool_calls, loops)
            messages.extend(
                ChatMessage.tool(c.id, result.output)
                for c, result in zip(reply.tool_calls, results, strict=True)
            )
        raise TurnLimitExceeded(
            f"The {agent.name} used all {agent.limits.max_turns} of its steps without "
            "finishing, so I stopped it. Try a simpler request or split it up."
        )

    async def _fixed_policy(
        self, ctx: RunContext, agent: AgentSpec, model: ChatModel, input: str, tools: list[Tool]
    ) -> str:
        by_name = {t.name: t for t in tools}
        loops = LoopDetector(agent.name, ctx.limits.loop_warnings)
        calls = [
            base.ToolCall(new_id(), t.name, arguments)
            for t in tools
            if t.auto_calls is not None
            for arguments in t.auto_calls(input)
        ]
        needed: list[base.ToolSpec] = []
        asked = input
        if not calls and model.capabilities.constrained_tools:
            # Code decides that a tool is needed; the model only writes the call, and its
            # decoding is constrained to the tools' schemas.
            wanted = [t for t in tools if t.needs_call is not None and t.needs_call(input)]
            needed = [t.spec for t in wanted]
            if needed:
                asked = await _primed(ctx, by_name, wanted, input, loops)
                calls = await self._written_calls(ctx, agent, model, asked, needed)
        outputs: list[str] = []
        if calls:
            results = await call_tools(ctx, by_name, calls, loops)
            if needed and any(r.is_error for r in results):
                # The tool says why it refused ("No column named …; the columns are: …"):
                # the model writes the call once more knowing that.
                refused = "\n".join(
                    f"Your call {c.name}({json.dumps(c.arguments)}) was refused: {r.output}"
                    for c, r in zip(calls, results, strict=True)
                    if r.is_error
                )
                feedback = f"{asked}\n\n{refused}\nCall the tool again, correcting that."
                again = await self._written_calls(ctx, agent, model, feedback, needed)
                # The same call again would only be refused as a repeat; its first refusal
                # says why, and is what the person reads.
                tried = {_call_key(c) for c in calls}
                again = [c for c in again if _call_key(c) not in tried]
                if again:
                    calls, results = again, await call_tools(ctx, by_name, again, loops)
            if needed and all(r.is_error and not r.crashed for r in results):
                # With only refusals to go on, a small model makes the figures up.
                refusal = "I could not compute that. " + " ".join(r.output for r in results)
                ctx.emit(TextDelta(**ctx.tags, text=refusal))
                return refusal
            outputs = [r.output for r in results]
        ctx.check_budget()
        if agent.grounded and shown_passages(ctx):
            return await answer_from_passages(ctx, model, input, self.generate, outputs)
        if agent.grounded and (said := nothing_found_reply(outputs)) is not None:
            ctx.emit(TextDelta(**ctx.tags, text=said))
            return said
        prompt = input
        if calls:
            facts = "\n\n".join(f"{c.name}:\n{out}" for c, out in zip(calls, outputs, strict=True))
            prompt = (
                f"{input}\n\nTool results computed for you (use these numbers exactly, "
                f"do not recompute them):\n{facts}\n\n{FROM_RESULTS}"
            )
        reply = await self.generate(ctx, model, self._opening(ctx, agent, prompt), ())
        return reply.text

    async def _written_calls(
        self,
        ctx: RunContext,
        agent: AgentSpec,
        model: ChatModel,
        input: str,
        needed: list[base.ToolSpec],
    ) -> list[base.ToolCall]:
        """Calls a constrained model writes for `input`, refused if they make up numbers."""
        forced = replace(self.options or ModelOptions(), tool_choice="required", temperature=0.0)
        messages = self._opening(ctx, agent, input)
        for _ in range(2):
            ctx.check_budget()
            reply = await self.generate(ctx, model, messages, needed, options=forced)
            invented = sorted(
                {n for c in reply.tool_calls for n in _numbers(json.dumps(c.arguments))}
                - _numbers(input)
            )
            if not invented:
                return reply.tool_calls
            # A small model fills gaps with plausible numbers; a call must use the request's.
            log.info("%s invented %s in a tool call; asking again", agent.name, invented)
            messages = [
                *messages,
                ChatMessage.user(
                    f"Your call used numbers that are not in the request ({', '.join(invented)}). "
                    "Call the tool again using only numbers written in the request."
                ),
            ]
        return []

    async def generate(
        self,
        ctx: RunContext,
        model: ChatModel,
        messages: Sequence[ChatMessage],
        tools: Sequence[base.ToolSpec] = (),
        *,
        options: ModelOptions | None = None,
    ) -> Completion:
        """One model call: stream its text as `TextDelta`s of `ctx`, count and report usage."""
        result = Completion()
        parts: list[str] = []
        usage: base.Usage | None = None
        seen_ids: set[str] = set()
        started = time.perf_counter()
        outcome: CallOutcome = "failed"
        # Every system prompt carries the canary; a reply that repeats it, or copies the
        # prompt at length, never reaches the user (agents/prompt_guard.py).
        messages = with_canary(messages)
        guard = LeakGuard(messages)
        try:
            stream = split_reasoning(model.stream(messages, tools, options or self.options))
            async for event in stream:
                match event:
                    case base.TextChunk(text=text):
                        parts.append(text)
                        if shown := guard.feed(text):
                            ctx.emit(TextDelta(**ctx.tags, text=shown))
                    case base.ReasoningChunk(text=text):
                        ctx.emit(ReasoningDelta(**ctx.tags, text=text))
                    case base.ToolCall():
                        # Some models reuse or omit call ids; results must map back one to one.
                        if not event.id or event.id in seen_ids:
                            event = replace(event, id=new_id())
                        seen_ids.add(event.id)
                        result.tool_calls.append(event)
                    case base.Usage():
                        usage = event if usage is None else usage + event
                    case base.QueuePosition(position=position):
                        ctx.emit(Queued(**ctx.tags, position=position))
                    case base.ModelNotice(text=text):
                        ctx.emit(Notice(**ctx.tags, text=text))
                    case base.Finish(reason=reason):
                        result.finish_reason = reason
            if rest := guard.finish():
                ctx.emit(TextDelta(**ctx.tags, text=rest))
            outcome = "ok"
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            # Every call is accounted for, also one that failed or was stopped half way.
            result.text = "".join(parts)
            if usage is None:
                # Providers that report nothing still count against the budget, estimated.
                usage = base.Usage(
                    sum(_counter.count(m.content) for m in messages), _counter.count(result.text)
                )
            if guard.leaked:
                log.warning("%s run %s: reply withheld from the user", ctx.agent, ctx.run_id)
                result.text = WITHHELD
                ctx.emit(TextDelta(**ctx.tags, text=WITHHELD))
            result.usage = usage
            ctx.add_usage(usage)
            served = usage.model or model.id
            ctx.emit(
                UsageReported(
                    **ctx.tags,
                    model=served,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    cost=self.prices.cost(served, usage),
                    duration_s=time.perf_counter() - started,
                    outcome=outcome,
                )
            )
        return result
