"""Planning for models that should not choose tools themselves (the bundled local models).

Code decides whether a request needs a plan: it is cut into clauses ("find X, then compute
Y and draft Z"), and each clause goes through the semantic router. Two or more clauses for
different operators make a multi-part request; anything else is single-purpose and keeps the
router's fast path. For a multi-part request a model that can be constrained to a JSON schema
writes the plan (which operator does what, in order) as a `plan` tool call, so the steps are
always valid operators; without such a model, or if it fails, the clauses are the plan.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.errors import CadreError
from agents.models.base import ChatMessage, ChatModel, ModelOptions, ToolSpec, complete
from agents.router import Route, SemanticRouter
from agents.spec import AgentSpec

log = logging.getLogger(__name__)

MAX_STEPS = 4

_VERBS = (
    r"research|find|look\s+up|look|search|check|read|review|pull|get|see|tell|what|which|who"
    r"|compute|calculate|work\s+out|figure\s+out|add|sum|total|estimate|multiply|divide"
    r"|subtract|convert|average|analy[sz]e|compare|draft|write|compose|prepare|summari[sz]e"
    r"|email|send|create|make|turn|rewrite|translate|list|extract|put|give|use|then"
)
_SPLIT = re.compile(
    r"(?<=[.;!?])\s+"  # sentences
    r"|\s*[,;]?\s*\b(?:and\s+then|then|after\s+that|afterwards|next|finally|once\s+done)\b[,:]?\s*"
    rf"|\s*[,;]\s*(?:and\s+)?(?=(?:please\s+)?(?:{_VERBS})\b)"
    rf"|\s+and\s+(?=(?:please\s+)?(?:{_VERBS})\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One delegation of a plan."""

    operator: str
    """The operator's name, e.g. `Researcher`."""
    task: str
    """What the operator is asked to do, self-contained."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Who handles a request: no step (the Chief of Staff answers), one operator, or several."""

    steps: tuple[PlanStep, ...]
    reason: str
    """One sentence for the step the user sees."""
    route: Route | None = None
    """The router's decision for the whole request."""

    @property
    def operators(self) -> list[str]:
        """The operators' names, in order."""
        return [step.operator for step in self.steps]


def clauses(request: str) -> list[str]:
    """The request cut into the parts that could each be one operator's job."""
    parts = [p.strip(" ,.;:\n\t") for p in _SPLIT.split(request) if p]
    return [p for p in parts if len(p.split()) >= 2]


def plan_spec(operators: Sequence[AgentSpec]) -> ToolSpec:
    """The `plan` call a constrained model writes: 2-4 steps, each a known operator."""
    return ToolSpec(
        name="plan",
        description="Split the request into steps for the team, in the order they must happen.",
        parameters={
            "type": "object",
            "properties": {
                "steps": {
                    "type": "array",
                    "minItems": 2,
                    "maxItems": MAX_STEPS,
                    "items": {
                        "type": "object",
                        "properties": {
                            "operator": {"enum": [op.name for op in operators]},
                            "task": {"type": "string", "minLength": 3, "maxLength": 300},
                        },
                        "required": ["operator", "task"],
                    },
                }
            },
            "required": ["steps"],
        },
    )


def _instructions(operators: Sequence[AgentSpec]) -> str:
    team = "\n".join(f"- {op.name}: {op.description}" for op in operators)
    return (
        "You are the Chief of Staff of an AI team. Split the user's request into steps, one "
        f"operator per step, in the order the work must happen. Your team:\n{team}\n"
        "Use only the operators the request needs. Write each task in the user's own words, "
        "complete enough to do on its own (keep every number, name and date it mentions)."
    )


class Planner:
    """Decides who handles a request: the router for single-purpose ones, a plan otherwise."""

    def __init__(
        self, model: ChatModel | None, router: SemanticRouter, operators: Sequence[AgentSpec]
    ) -> None:
        self.model = model if model is not None and model.capabilities.constrained_tools else None
        self.router = router
        self.operators = tuple(operators)
        self._by_name = {op.name: op for op in self.operators}

    async def plan(self, request: str) -> Plan:
        """The plan for `request` (routing runs in a thread: it embeds)."""
        route = await asyncio.to_thread(self.router.route, request)
        parts = clauses(request)
        routed: list[tuple[str, str]] = []
        if len(parts) >= 2:
            for part in parts:
                part_route = await asyncio.to_thread(self.router.route, part)
                if part_route.operator is not None:
                    routed.append((part_route.operator, part))
        by_clause = _merge(routed)
        if len({operator for operator, _ in by_clause}) < 2:
            steps = (PlanStep(route.operator, request),) if route.operator else ()
            return Plan(steps, route.reason, route)
        fallback = tuple(PlanStep(op, task) for op, task in by_clause[:MAX_STEPS])
        if self.model is None:
            return Plan(fallback, _reason(fallback, "by its parts"), route)
        try:
            written = await self._write(request)
        except CadreError as exc:
            log.warning("The model could not write a plan (%s); planning by clauses", exc)
            return Plan(fallback, _reason(fallback, "by its parts"), route)
        return Plan(written, _reason(written, "written by the model"), route)

    async def _write(self, request: str) -> tuple[PlanStep, ...]:
        assert self.model is not None
        spec = plan_spec(self.operators)
        messages = [ChatMessage.system(_instructions(self.operators)), ChatMessage.user(request)]
        options = ModelOptions(temperature=0.0, max_tokens=400, tool_choice="required")
        reply = await complete(self.model, messages, [spec], options)
        if not reply.tool_calls:
            raise CadreError("no plan came back")
        steps = tuple(
            PlanStep(str(step["operator"]), str(step["task"]).strip())
            for step in reply.tool_calls[0].arguments.get("steps", [])
            if step.get("operator") in self._by_name
        )
        merged = _merge([(s.operator, s.task) for s in steps])
        if len(merged) < 2:
            raise CadreError("the plan had fewer than two steps")
        return tuple(PlanStep(op, task) for op, task in merged)


def _merge(steps: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive steps of the same operator become one step."""
    merged: list[tuple[str, str]] = []
    for operator, task in steps:
        if merged and merged[-1][0] == operator:
            merged[-1] = (operator, f"{merged[-1][1]}; {task}")
        else:
            merged.append((operator, task))
    return merged


def _reason(steps: Sequence[PlanStep], how: str) -> str:
    names = " → ".join(step.operator for step in steps)
    return f"This request has {len(steps)} parts, planned {how}: {names}."


def with_results(task: str, results: Sequence[tuple[str, str]]) -> str:
    """A step's instructions, with what the earlier steps produced."""
    if not results:
        return task
    done = "\n".join(f"- {name}: {text.strip()}" for name, text in results)
    return f"{task}\n\nResults from the team so far (use them):\n{done}"
