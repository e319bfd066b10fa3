"""`RunEvent`s: everything a user can watch while agents work, as frozen dataclasses.

Every event names the run it belongs to (`run_id`), that run's parent (`parent_run_id`,
`None` for the Chief of Staff) and the agent's display name. A renderer keys steps by run id
and tool call id; `kind` lets it `match` without importing the classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agents.models.base import Usage
from agents.tasks import Task
from knowledge.documents import Passage


@dataclass(frozen=True, slots=True, kw_only=True)
class _RunEventBase:
    run_id: str
    """The run this event belongs to."""
    parent_run_id: str | None
    """The run that started it; `None` for the root (Chief of Staff) run."""
    agent: str
    """Display name of the agent doing the run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(_RunEventBase):
    """An agent started working on `input`."""

    model: str
    input: str
    depth: int
    """0 for the Chief of Staff, 1 for an operator it delegated to."""
    started_at: float
    """Unix time."""
    kind: Literal["run_started"] = "run_started"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(_RunEventBase):
    """An agent finished with `output` (for the root run: the final answer)."""

    output: str
    usage: Usage
    """Tokens this run's own model calls used (not its children's)."""
    duration_s: float
    kind: Literal["run_finished"] = "run_finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailed(_RunEventBase):
    """An agent stopped without an answer; `error` is a sentence a user can read."""

    error: str
    error_type: str
    """Class name of the cause, e.g. `BudgetExceeded`, `CancelledError`."""
    cancelled: bool
    """True when the user pressed stop (or a parent was cancelled)."""
    duration_s: float
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    """The cause, for logs; `None` when cancelled."""
    kind: Literal["run_failed"] = "run_failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta(_RunEventBase):
    """A piece of the agent's answer, in order; the root's deltas are the final message."""

    text: str
    kind: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningDelta(_RunEventBase):
    """A piece of the model's reasoning before it answers; shown apart, never in the answer."""

    text: str
    kind: Literal["reasoning_delta"] = "reasoning_delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallStarted(_RunEventBase):
    """The agent called a tool."""

    call_id: str
    tool: str
    arguments: dict[str, Any]
    kind: Literal["tool_call_started"] = "tool_call_started"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallFinished(_RunEventBase):
    """A tool call ended; `output` is what the model sees (an error message if `is_error`)."""

    call_id: str
    tool: str
    output: str
    duration_s: float
    is_error: bool
    kind: Literal["tool_call_finished"] = "tool_call_finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class DelegationStarted(_RunEventBase):
    """The agent handed a sub-task to an operator, whose run is `child_run_id`."""

    call_id: str
    operator: str
    instructions: str
    task_id: str
    child_run_id: str
    kind: Literal["delegation_started"] = "delegation_started"


@dataclass(frozen=True, slots=True, kw_only=True)
class DelegationFinished(_RunEventBase):
    """A delegation ended; `output` is what the delegating agent was told."""

    call_id: str
    operator: str
    task_id: str
    child_run_id: str
    output: str
    is_error: bool
    duration_s: float
    usage: Usage
    """Tokens the operator's run used."""
    kind: Literal["delegation_finished"] = "delegation_finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskUpdated(_RunEventBase):
    """A task-list item was created or changed status."""

    task: Task
    kind: Literal["task_updated"] = "task_updated"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievalDone(_RunEventBase):
    """A search over the user's documents returned these passages (the citations)."""

    call_id: str | None
    """The tool call that searched, when a tool did."""
    query: str
    citations: tuple[Passage, ...]
    kind: Literal["retrieval_done"] = "retrieval_done"


CallOutcome = Literal["ok", "failed", "cancelled"]
"""How one model call ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageReported(_RunEventBase):
    """One model call's token usage, and its cost when the model has a price."""

    model: str
    input_tokens: int
    output_tokens: int
    cost: float | None = None
    """US dollars, when the runner knows the model's price."""
    duration_s: float = 0.0
    """How long the call took, queueing included."""
    outcome: CallOutcome = "ok"
    """`failed` when the model raised, `cancelled` when the turn was stopped during it."""
    kind: Literal["usage_reported"] = "usage_reported"


@dataclass(frozen=True, slots=True, kw_only=True)
class Queued(_RunEventBase):
    """The agent waits for a busy model; `position` 1 means next in line."""

    position: int
    kind: Literal["queued"] = "queued"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice(_RunEventBase):
    """Something about the run the person should see: a retry, a switch to another model."""

    text: str
    kind: Literal["notice"] = "notice"


RunEvent = (
    RunStarted
    | RunFinished
    | RunFailed
    | TextDelta
    | ReasoningDelta
    | ToolCallStarted
    | ToolCallFinished
    | DelegationStarted
    | DelegationFinished
    | TaskUpdated
    | RetrievalDone
    | UsageReported
    | Queued
    | Notice
)
"""Any event a run stream yields."""
