"""The Chief of Staff: one user turn, delegated through tools or by code.

A model with reliable tool calling gets the `plan` tool and one `delegate_to_<operator>` tool
per operator and decides itself. The bundled local models do not decide: code does.
Files attached to the message send it to the Researcher; a multi-part request becomes a plan
(`agents/planner.py`) whose steps run one after another, each seeing the earlier results;
a single-purpose request goes where the semantic router sends it, or to the Researcher when
the person's own documents match it strongly (routing by evidence) or a follow-up names a row
of the conversation's table; below the router's confidence the Chief of Staff answers itself.
Every path emits the same events, so the UI cannot tell them apart.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from typing import Any

from agents.context import RunContext
from agents.delegation import delegate, delegation_tools, plan_tool
from agents.errors import ConfigError
from agents.events import RunEvent, TextDelta, ToolCallFinished, ToolCallStarted
from agents.grounding import named_in_rows
from agents.knowledge_tools import DocumentMatch, RowSearch
from agents.limits import LoopDetector
from agents.models.base import ChatMessage, ChatModel, ToolCall
from agents.planner import Plan, Planner, PlanStep, with_results
from agents.roster import CHIEF_OF_STAFF, OPERATORS, RESEARCHER, chief_instructions
from agents.router import SemanticRouter
from agents.runner import Body, Runner, final_output, observe_run
from agents.scope import UserScope
from agents.spec import AgentSpec
from agents.table_query import asks_for_aggregate
from agents.tasks import new_id
from agents.tool_calls import call_tools

EVIDENCE_THRESHOLD = 0.4
"""Cosine similarity of the person's best passage above which their documents answer."""
THREAD_EVIDENCE_THRESHOLD = 0.3
"""The same for files attached earlier in the conversation (`bench/evidence_routing.py`)."""
_OVER_THE_TABLE = "From the table attached in this conversation: "
"""Leads the Analyst's task for a figure over a conversation's table: `query_table` is
called for a figure over "the table", and "How many releases reached end of life before
2010?" alone does not say so (the bundled model wrote SQL for a made-up table instead)."""

_PIECES = re.compile(r"[^\n]*\n|[^\n]+")


def _short(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _overruled(why: str) -> str:
    """The router's reasons, shown after the decision that set its "answering myself" aside."""
    return f"(The router alone: {why})"


class ChiefOfStaff:
    """Runs user turns for the Chief of Staff and its operators."""

    def __init__(
        self,
        runner: Runner,
        *,
        operators: Sequence[AgentSpec] = OPERATORS,
        spec: AgentSpec = CHIEF_OF_STAFF,
        router: SemanticRouter | None = None,
        documents: DocumentMatch | None = None,
        table_rows: RowSearch | None = None,
        evidence_threshold: float = EVIDENCE_THRESHOLD,
        thread_evidence_threshold: float = THREAD_EVIDENCE_THRESHOLD,
    ) -> None:
        self.runner = runner
        self.operators = tuple(operators)
        self.spec = spec
        self.router = router
        self.documents = documents
        self.table_rows = table_rows
        self.evidence_threshold = evidence_threshold
        self.thread_evidence_threshold = thread_evidence_threshold
        self.planner = None if router is None else Planner(router, self.operators)

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
        history = self._unlabelled(history)
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

    def _unlabelled(self, history: Sequence[ChatMessage]) -> list[ChatMessage]:
        """Earlier answers without the "**Researcher:** " labels that join a plan's results.

        The bundled model, answering a later question itself, copied the label into its own
        reply ("**Researcher:** Pride and Prejudice was written by Jane Austen."), naming an
        operator that never ran. The labels only told the person who wrote what.
        """
        names = "|".join(re.escape(operator.name) for operator in self.operators)
        if not names:
            return list(history)
        label = re.compile(rf"^\*\*(?:{names}):\*\* ", re.MULTILINE)
        return [
            replace(message, content=label.sub("", message.content))
            if message.role == "assistant"
            else message
            for message in history
        ]

    async def run(
        self, request: str, *, history: Sequence[ChatMessage] = (), deps: Any = None
    ) -> str:
        """Handle one user message and return the final answer (raising if the turn failed)."""
        return await final_output(self.stream(request, history=history, deps=deps))

    def _routed(self, router: SemanticRouter, request: str) -> Body:
        async def work(ctx: RunContext) -> str:
            plan, deps = await self._route(ctx, request)
            ctx = replace(ctx, deps=deps)
            if len(plan.steps) > 1:
                return await self._run_plan(ctx, plan)
            step = plan.steps[0] if plan.steps else None
            operator = self._operator(step.operator) if step else None
            if step is None or operator is None:
                return await self._answer(ctx, request)
            outcome = await delegate(replace(ctx, call_id=new_id()), operator, step.task)
            if outcome.ok and outcome.text.strip():
                # The operator's answer is the reply: a second pass through a small model
                # costs as long again and tends to lose detail.
                self._say(ctx, outcome.text)
                return outcome.text
            return await self._answer(ctx, request, note=outcome.text)

        return work

    def _operator(self, name: str) -> AgentSpec | None:
        return next((op for op in self.operators if op.name == name), None)

    def _say(self, ctx: RunContext, text: str) -> None:
        for piece in _PIECES.findall(text):
            ctx.emit(TextDelta(**ctx.tags, text=piece))

    async def _route(self, ctx: RunContext, request: str) -> tuple[Plan, Any]:
        """Decide who works on `request`, shown as a `route` step with the reasons; returns
        the plan and the `deps` its operators run with."""
        assert self.planner is not None
        call_id = new_id()
        ctx.emit(
            ToolCallStarted(
                **ctx.tags, call_id=call_id, tool="route", arguments={"request": request}
            )
        )
        started = time.perf_counter()
        plan, why, deps = await self._decide(ctx, self.planner, request)
        ctx.emit(
            ToolCallFinished(
                **ctx.tags,
                call_id=call_id,
                tool="route",
                output=why,
                duration_s=time.perf_counter() - started,
                is_error=False,
            )
        )
        return plan, deps

    async def _decide(
        self, ctx: RunContext, planner: Planner, request: str
    ) -> tuple[Plan, str, Any]:
        scope = ctx.deps if isinstance(ctx.deps, UserScope) else None
        # Attached files go to a grounded operator that reads the asker's own documents (an
        # operator limited to a collection or chosen documents never sees attachments).
        researcher = next(
            (
                op
                for op in self.operators
                if op.grounded and op.knowledge_owner is None and op.knowledge_scope is None
            ),
            RESEARCHER,
        )
        plan = await planner.plan(request)
        if (computed := self._over_tables(request, plan, scope)) is not None:
            return computed
        if scope is not None and scope.attached:
            if len(plan.steps) > 1 and researcher.name in plan.operators:
                why = f"{plan.reason} The {researcher.name} reads the attached files first."
                return plan, why, scope
            attached = Plan((PlanStep(researcher.name, request),), "")
            why = f"Files are attached to this message: the {researcher.name} reads them."
            return attached, why, scope
        why = plan.reason
        if plan.route is not None:
            scores = ", ".join(f"{name} {score:.2f}" for name, score in plan.route.scores.items())
            why = f"{why} Scores: {scores}."
        if len(plan.steps) > 1 or plan.operators == [researcher.name]:
            return plan, why, ctx.deps
        if scope is None or self.documents is None:
            return plan, why, ctx.deps
        if scope.earlier:
            # A follow-up in a conversation about a file is most likely about that file: its
            # passages count at a lower bar, and the Researcher reads them first.
            match = await self.documents(request, scope.owner, scope.earlier)
            found = replace(scope, attached=scope.earlier)
            if match >= self.thread_evidence_threshold:
                where = "the files of this conversation match"
                return (*self._by_evidence(request, plan, researcher, where, match, why), found)
            if not plan.steps and (named := await self._named_in_tables(request, scope)):
                # "When did Debian Stretch reach end of life?" after debian.csv: one row in
                # a passage of many barely moves its vector, and the model's memory is wrong.
                names = " and ".join(f'"{name}"' for name in named)
                held = (
                    f"It names {names}, which a row of this conversation's table holds: the "
                    f"{researcher.name} answers from the table."
                )
                plan = Plan((PlanStep(researcher.name, request),), held)
                return plan, f"{held} {_overruled(why)}", found
        match = await self.documents(request, scope.owner, None)
        if match >= self.evidence_threshold:
            where = "your documents match"
            return (*self._by_evidence(request, plan, researcher, where, match, why), ctx.deps)
        return plan, why, ctx.deps

    async def _named_in_tables(self, request: str, scope: UserScope) -> list[str]:
        """What `request` names that a row of the conversation's tables holds."""
        if self.table_rows is None or not scope.earlier_tables:
            return []
        rows = await self.table_rows(request, scope.owner, scope.earlier_tables)
        return named_in_rows(request, rows)

    def _over_tables(
        self, request: str, plan: Plan, scope: UserScope | None
    ) -> tuple[Plan, str, UserScope] | None:
        """The plan when `request` is a figure over a table of this conversation, if it is.

        Search shows a few rows of a sheet; a total or a count needs every row, which only
        the Analyst's `query_table` reads.
        """
        if scope is None or len(plan.steps) > 1:
            return None
        alone = self._operator(plan.steps[0].operator) if plan.steps else None
        if alone is not None and "query_table" in alone.tools and scope.attached_tables:
            # The router picked the Analyst for a total over an attached spreadsheet.
            why = f"{plan.reason} It computes over the attached tables whole."
            task = plan.steps[0].task
            if asks_for_aggregate(task):
                plan = Plan((PlanStep(alone.name, _OVER_THE_TABLE + task),), plan.reason)
            return plan, why, scope
        tables = scope.attached_tables or scope.earlier_tables
        analyst = next((op for op in self.operators if "query_table" in op.tools), None)
        if analyst is None or not tables or not asks_for_aggregate(request):
            return None
        # "How many releases are listed?" with a CSV in the conversation: counted, not guessed
        # from the rows a search happened to show.
        why = (
            f"It asks for a figure over this conversation's table: the {analyst.name} "
            "computes over it whole."
        )
        over = replace(scope, attached=tables, attached_tables=tables)
        # The task names the table: the Analyst's `query_table` is called for a figure over
        # "the table", and the request alone ("How many releases are listed?") does not say so.
        task = _OVER_THE_TABLE + request
        return Plan((PlanStep(analyst.name, task),), why), why, over

    @staticmethod
    def _by_evidence(
        request: str, plan: Plan, researcher: AgentSpec, where: str, match: float, why: str
    ) -> tuple[Plan, str]:
        """The plan once documents are known to answer: the Researcher first."""
        found = PlanStep(researcher.name, request)
        if not plan.steps:
            evidence = (
                f"{where.capitalize()} this request closely ({match:.2f}): "
                f"the {researcher.name} answers from them."
            )
            return Plan((found,), evidence), f"{evidence} {_overruled(why)}"
        # "Draft an email about the Tallinn opening": the facts are in the documents,
        # so the Researcher finds them before the operator the request named.
        evidence = (
            f"{where.capitalize()} this request closely ({match:.2f}): the "
            f"{researcher.name} looks up what they say first."
        )
        return Plan((found, *plan.steps), evidence), f"{evidence} {why}"

    async def _run_plan(self, ctx: RunContext, plan: Plan) -> str:
        """Record the plan as tasks, run its steps in order, and combine what they produced."""
        planning = plan_tool(self.operators)
        steps = [{"operator": s.operator, "title": _short(s.task)} for s in plan.steps]
        call = ToolCall(new_id(), planning.name, {"steps": steps})
        loops = LoopDetector(self.spec.name, ctx.limits.loop_warnings)
        await call_tools(ctx, {planning.name: planning}, [call], loops)
        results: list[tuple[str, str]] = []
        failed: list[str] = []
        for step in plan.steps:
            operator = self._operator(step.operator)
            if operator is None:
                continue
            outcome = await delegate(
                replace(ctx, call_id=new_id()),
                operator,
                with_results(step.task, results),
                with_request=False,
            )
            if outcome.ok and outcome.text.strip():
                results.append((operator.name, outcome.text.strip()))
            else:
                failed.append(f"{operator.name}: {outcome.text}")
        parts = [f"**{name}:** {text}" for name, text in results]
        if failed:
            parts.append("⚠️ Not done — " + "; ".join(failed))
        answer = "\n\n".join(parts) or "None of the steps produced a result."
        self._say(ctx, answer)
        return answer

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
