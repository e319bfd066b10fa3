"""The guards every run obeys, and the checks that trip them with a readable sentence."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from agents.errors import BudgetExceeded, DelegationError, LoopDetected


@dataclass(frozen=True, slots=True)
class AgentLimits:
    """Limits of one agent, part of its `AgentSpec`."""

    max_turns: int = 8
    """Model calls one run may make before it is stopped."""
    timeout_s: float | None = 180.0
    """Wall-clock seconds a delegated run of this agent may take; `None` for no limit."""
    max_concurrency: int = 2
    """Runs of this agent (as an operator) allowed at the same time; later ones wait."""


@dataclass(frozen=True, slots=True)
class TurnLimits:
    """Limits of one user turn, shared by the Chief of Staff and every operator it starts."""

    max_depth: int = 1
    """Delegation depth: 1 lets the Chief of Staff delegate but not its operators."""
    token_budget: int | None = 100_000
    """Input plus output tokens the whole tree may spend; `None` for no budget."""
    deadline_s: float | None = 600.0
    """Seconds the whole turn may take; `None` for no deadline."""
    tool_timeout_s: float | None = 60.0
    """Seconds one (non-delegation) tool call may take."""
    loop_warnings: int = 1
    """Identical tool calls answered with a warning before the run is stopped."""


def check_budget(used: int, budget: int | None) -> None:
    """Raise `BudgetExceeded` when `used` tokens reach the turn's budget."""
    if budget is not None and used >= budget:
        raise BudgetExceeded(
            f"This request used its token budget ({used:,} of {budget:,} tokens), so I stopped. "
            "Ask a narrower question, or raise the token budget in the settings."
        )


def check_depth(depth: int, max_depth: int, operator: str) -> None:
    """Raise `DelegationError` when delegating from `depth` would exceed `max_depth`."""
    if depth + 1 > max_depth:
        raise DelegationError(
            f"Cannot delegate to the {operator}: delegation is limited to depth {max_depth} "
            "(operators do not delegate further). Do this part yourself."
        )


def _canonical(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, default=str, ensure_ascii=False)


class LoopDetector:
    """Notices a run calling the same tool with the same arguments again."""

    def __init__(self, agent: str, warnings: int) -> None:
        self._agent = agent
        self._warnings = warnings
        self._seen: Counter[tuple[str, str]] = Counter()

    def see(self, tool: str, arguments: dict[str, Any]) -> Literal["new", "repeat"]:
        """Record a call: `new`, or `repeat` (answer with a warning); raise once past tolerance."""
        key = (tool, _canonical(arguments))
        self._seen[key] += 1
        repeats = self._seen[key] - 1
        if repeats == 0:
            return "new"
        if repeats <= self._warnings:
            return "repeat"
        raise LoopDetected(
            f"The {self._agent} kept calling {tool} with the same arguments "
            f"({repeats + 1} times), so I stopped it to avoid a loop."
        )


def repeat_warning(tool: str) -> str:
    """The tool result a model gets for a repeated identical call."""
    return (
        f"You already called {tool} with exactly these arguments; its result is above. "
        "Do not call it again with the same arguments: use that result or answer now."
    )
