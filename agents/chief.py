"""The Chief of Staff: one user turn, delegated through tools or through the semantic router.

A model with tool calling gets the `plan` tool and one `delegate_to_<operator>` tool per
operator and decides itself. A model without it (the bundled SmolLM2) is routed: the
router picks an operator (or none), the operator runs, and its answer becomes the final
message; below the router's confidence the Chief of Staff answers itself. Both paths emit
the same events, so the UI cannot tell them apart.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from typing import Any

from agents.context import RunContext
from agents.delegation import delegate, delegation_tools, plan_tool
from agents.errors import ConfigError
from agents.events import RunEvent, TextDelta, ToolCallFinished, ToolCallStarted
from agents.models.base import ChatMessage, ChatModel
from agents.roster import CHIEF_OF_STAFF, OPERATORS, chief_instructions
from agents.router import Route, SemanticRouter
from agents.runner import Body, Runner, final_output, observe_run
from agents.spec import AgentSpec
from agents.tasks import new_id

_PIECES = re.compile(r"[^\n]*\n|[^\n]+")


class ChiefOfStaff:
    """Runs user turns for the Chief of Staff and its operators."""

    def __init__(
        self,
        runner: Runner,
        *,
        operators: Sequence[AgentSpec] = OPERATORS,
        spec: AgentSpec = CHIEF_OF_STAFF,
        router: SemanticRouter | None = None,
    ) -> None:
        self.runner = runner
        self.operators = tuple(operators)
        self.spec = spec
        self.router = router

    @property
    def model(self) -> ChatModel:
        """The Chief of Staff's model."""
        return self.runner.resolve_model(self.spec)

    @property
    def uses_tools(self) -> bool:
        """True when the model calls tools itself; False when the router decides."""
        return self.model.capabilities.tools

    def stream(
        self, request: str, *, history: Sequence[ChatMessage] = (), deps: Any = None
    ) -> AsyncGenerator[RunEvent, None]:
        """Handle one user message, yielding the events of the whole tree as they happen."""
        if self.uses_tools:
            spec = replace(self.spec, instructions=chief_instructions(self.spec, self.operators))
            tools = [plan_tool(self.operators), *delegation_tools(self.operators)]
            return self.runner.stream(spec, request, history=history, deps=deps, tools=tools)
        if self.router is None:
            raise ConfigError(
                f"{self.model.id} cannot call tools, so the Chief of Staff needs a "
                "SemanticRouter (pass router=) to pick operators."
            )
        router = self.router

        async def body(ctx: RunContext) -> str:
            return await observe_run(ctx, self.model.id, request, self._routed(router, request))

        return self.runner.stream_turn(self.spec.name, request, body, history=history, deps=deps)

    async def run(
        self, request: str, *, history: Sequence[ChatMessage] = (), deps: Any = None
    ) -> str:
        """Handle one user message and return the final answer (raising if the turn failed)."""
        return await final_output(self.stream(request, history=history, deps=deps))

    def _routed(self, router: SemanticRouter, request: str) -> Body:
        async def work(ctx: RunContext) -> str:
            route = await self._route(ctx, router, request)
            operator = next((op for op in self.operators if op.name == route.operator), None)
            if operator is None:
                return await self._answer(ctx, request)
            outcome = await delegate(replace(ctx, call_id=new_id()), operator, request)
            if outcome.ok and outcome.text.strip():
                # The operator's answer is the reply: a second pass through a small model
                # costs as long again and tends to lose detail.
                for piece in _PIECES.findall(outcome.text):
                    ctx.emit(TextDelta(**ctx.tags, text=piece))
                return outcome.text
            return await self._answer(ctx, request, note=outcome.text)

        return work

    async def _route(self, ctx: RunContext, router: SemanticRouter, request: str) -> Route:
        call_id = new_id()
        ctx.emit(
            ToolCallStarted(
                **ctx.tags, call_id=call_id, tool="route", arguments={"request": request}
            )
        )
        started = time.perf_counter()
        route = await asyncio.to_thread(router.route, request)
        scores = ", ".join(f"{name} {score:.2f}" for name, score in route.scores.items())
        ctx.emit(
            ToolCallFinished(
                **ctx.tags,
                call_id=call_id,
                tool="route",
                output=f"{route.reason} Scores: {scores}.",
                duration_s=time.perf_counter() - started,
                is_error=False,
            )
        )
        return route

    async def _answer(self, ctx: RunContext, request: str, note: str | None = None) -> str:
        prompt = request if note is None else f"{request}\n\n(Note: {note})"
        messages = [
            ChatMessage.system(self.spec.instructions),
            *ctx.turn.history,
            ChatMessage.user(prompt),
        ]
        ctx.check_budget()
        reply = await self.runner.generate(ctx, self.model, messages)
        return reply.text
