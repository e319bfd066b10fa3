"""`RunContext`: what a run (and each of its tools) knows about itself and its user turn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from agents.citations import CitationBook
from agents.limits import TurnLimits, check_budget
from agents.models.base import ChatMessage, Usage
from agents.models.queue import PrioritySemaphore
from agents.tasks import TaskStore, new_id

if TYPE_CHECKING:
    from agents.events import RunEvent
    from agents.spec import AgentSpec
    from knowledge.documents import Passage

Emit = Callable[["RunEvent"], None]


class AgentExecutor(Protocol):
    """What delegation needs from the runner: run an agent, and its concurrency slot."""

    async def run_agent(self, ctx: RunContext, agent: AgentSpec, input: str) -> str:
        """Run `agent` on `input` as the run described by `ctx`; return its answer."""
        ...

    def operator_slot(self, agent: AgentSpec) -> PrioritySemaphore:
        """The semaphore that caps how many runs of `agent` go at once."""
        ...


@dataclass(eq=False)
class TurnState:
    """What every run of one user turn shares: limits, spent tokens, the event sink."""

    turn_id: str
    """The root run's id."""
    limits: TurnLimits
    emit: Emit
    tasks: TaskStore
    executor: AgentExecutor
    request: str
    """The user's message that started the turn."""
    history: tuple[ChatMessage, ...] = ()
    """The conversation before this turn (user and assistant messages)."""
    deadline: float | None = None
    """Event-loop time by which the whole turn must end."""
    usage: Usage = field(default_factory=Usage)
    """Tokens spent so far by every run of the turn."""
    stop: threading.Event = field(default_factory=threading.Event)
    """Set when the turn is cancelled; tools running in threads can poll it."""
    claimed: set[str] = field(default_factory=set)
    """Planned task ids already taken by a delegation."""
    citations: CitationBook = field(default_factory=CitationBook)
    """The `[n]` numbers of the passages the turn's tools showed."""


class EventTags(TypedDict):
    """The fields every `RunEvent` carries."""

    run_id: str
    parent_run_id: str | None
    agent: str


@dataclass(eq=False)
class RunContext:
    """One run of one agent: ids, depth, deadline, usage, deps; tools may take it first."""

    turn: TurnState
    agent: str
    """Display name of the agent doing this run."""
    run_id: str = field(default_factory=new_id)
    parent_run_id: str | None = None
    depth: int = 0
    deadline: float | None = None
    """Event-loop time by which this run must end (its own limit or the turn's)."""
    timeout_s: float | None = None
    """The run's own time limit in seconds (for messages); the deadline may be sooner."""
    call_id: str | None = None
    """Inside a tool: the id of the tool call being served."""
    deps: Any = None
    """Whatever the app passes down (user id, database session, knowledge store…)."""
    usage: Usage = field(default_factory=Usage)
    """Tokens this run's own model calls used."""

    @property
    def tags(self) -> EventTags:
        """The identifying fields for an event of this run."""
        return {"run_id": self.run_id, "parent_run_id": self.parent_run_id, "agent": self.agent}

    @property
    def limits(self) -> TurnLimits:
        """The turn's limits."""
        return self.turn.limits

    @property
    def cancelled(self) -> bool:
        """True once the user stopped the turn."""
        return self.turn.stop.is_set()

    def emit(self, event: RunEvent) -> None:
        """Send an event to whoever consumes the turn's stream."""
        self.turn.emit(event)

    def time_left(self) -> float | None:
        """Seconds before this run's deadline, or `None` without one."""
        if self.deadline is None:
            return None
        return self.deadline - asyncio.get_running_loop().time()

    def check_budget(self) -> None:
        """Raise `BudgetExceeded` if the turn has spent its token budget."""
        check_budget(self.turn.usage.total_tokens, self.limits.token_budget)

    def add_usage(self, usage: Usage) -> None:
        """Count tokens against this run and the turn's budget."""
        self.usage = self.usage + usage
        self.turn.usage = self.turn.usage + usage

    def child(self, agent: str, timeout_s: float | None, run_id: str | None = None) -> RunContext:
        """The context of a run this one starts (one level deeper, its own deadline)."""
        deadline = self.deadline
        if timeout_s is not None:
            own = asyncio.get_running_loop().time() + timeout_s
            deadline = own if deadline is None else min(deadline, own)
        return RunContext(
            turn=self.turn,
            agent=agent,
            run_id=run_id or new_id(),
            timeout_s=timeout_s,
            parent_run_id=self.run_id,
            depth=self.depth + 1,
            deadline=deadline,
            deps=self.deps,
        )

    def report_retrieval(self, query: str, passages: Sequence[Passage]) -> None:
        """Tell the user which passages a search found (they become the citations)."""
        from agents.events import RetrievalDone

        self.emit(
            RetrievalDone(**self.tags, call_id=self.call_id, query=query, citations=tuple(passages))
        )
