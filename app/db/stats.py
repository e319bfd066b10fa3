"""How each operator performed over a period, from stored records only.

Three records feed it, each read as it was written:

- tasks (`tasks` table): how many an operator was handed in the period (by creation time),
  how many ended done, failed or cancelled, and how long the done ones took (started to
  finished);
- the usage ledger (`usage`): tokens in and out and cost of every model call its runs made;
- feedback (`feedback`): a thumbs up or down on an answer counts for every operator that
  contributed to it — the Chief of Staff, and the operators of the tasks filed under the
  answer's turn. The answer names its turn in its metadata: `run_id` (a chat answer, set by
  the renderer) or `task_id` (a background task's posted result; its task names the turn).
  The web UI rates the message's run (Chainlit's `on_message` step), whose child is the
  answer; that answer's metadata is read. An answer that names neither is counted for
  nobody rather than guessed at.

A member sees only their own records; an admin everyone's, or one user's. An empty period
gives zeros, and `None` where a figure has nothing to stand on (a rate, a latency).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from agents.roster import CHIEF_OF_STAFF
from app.db.domain import TaskRecord, UsageRecord
from app.db.models import Feedback, Step
from app.db.sessions import Sessions

ENDED = ("done", "failed", "cancelled")
PERIODS = {"today": "today", "7d": "last 7 days", "30d": "last 30 days", "all": "all time"}
"""The periods offered by name (the chat's buttons and `/stats 7d`), with their labels."""


@dataclass(frozen=True, slots=True)
class Period:
    """`since` (inclusive) to `until` (exclusive), both UTC; `None` leaves that end open."""

    since: datetime | None = None
    until: datetime | None = None


def named_period(name: str, now: datetime) -> Period:
    """The period `name` (a key of `PERIODS`) ending at `now`; today starts at 00:00 UTC."""
    match name:
        case "today":
            return Period(
                since=now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            )
        case "7d":
            return Period(since=now - timedelta(days=7))
        case "30d":
            return Period(since=now - timedelta(days=30))
        case "all":
            return Period()
    raise ValueError(f"no period {name!r}: use one of {', '.join(PERIODS)}")


@dataclass(slots=True)
class OperatorStats:
    """One operator's figures over a period."""

    operator: str
    tasks: int = 0
    """Tasks it was handed in the period, whatever became of them."""
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    median_s: float | None = None
    """Median seconds a done task took, start to finish; `None` without one."""
    p95_s: float | None = None
    """95th percentile (nearest rank) of the same."""
    calls: int = 0
    """Model calls its runs made."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    """US dollars of the calls that have a price; `None` when none has."""
    thumbs_up: int = 0
    thumbs_down: int = 0

    @property
    def success_rate(self) -> float | None:
        """Done out of done and failed (cancelled tasks were stopped by a person)."""
        judged = self.done + self.failed
        return None if judged == 0 else self.done / judged


@dataclass(frozen=True, slots=True)
class StatsReport:
    """Every operator with a record in the period, the Chief of Staff first."""

    period: Period
    user_id: str | None
    """Whose records; `None` for everyone's."""
    operators: tuple[OperatorStats, ...] = field(default_factory=tuple)
    rated: tuple[int, int] = (0, 0)
    """Answers rated thumbs up and thumbs down (each once, however many operators helped)."""

    @property
    def total(self) -> OperatorStats:
        """All operators together; latencies are not combined (`None`), and the thumbs are
        the answers rated, each counted once."""
        whole = OperatorStats("All")
        for row in self.operators:
            whole.tasks += row.tasks
            whole.done += row.done
            whole.failed += row.failed
            whole.cancelled += row.cancelled
            whole.calls += row.calls
            whole.input_tokens += row.input_tokens
            whole.output_tokens += row.output_tokens
            if row.cost is not None:
                whole.cost = (whole.cost or 0.0) + row.cost
        whole.thumbs_up, whole.thumbs_down = self.rated
        return whole


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with `share` of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class OperatorStatsStore:
    """Computes `StatsReport`s from the tasks, usage and feedback tables."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def report(self, period: Period, user_id: str | None = None) -> StatsReport:
        """Per operator figures over `period`, of `user_id`'s records (everyone's: `None`)."""
        rows: dict[str, OperatorStats] = {}

        def of(name: str) -> OperatorStats:
            return rows.setdefault(name, OperatorStats(name))

        async with self._sessions.reading() as session:
            tasks = (await session.execute(_tasks_query(period, user_id))).all()
            usage = (await session.execute(_usage_query(period, user_id))).all()
            rated = (await session.execute(_feedback_query(period, user_id))).all()
            # The web UI puts its thumbs on the message's run (Chainlit's `on_message` step),
            # the answer being a child of it; a client may also rate the answer itself.
            children: dict[str, list[Any]] = defaultdict(list)
            runs = [for_id for _, for_id, metadata in rated if not _names_turn(metadata)]
            if runs:
                query = select(Step.parent_id, Step.metadata_).where(Step.parent_id.in_(runs))
                for parent_id, metadata in (await session.execute(query)).all():
                    if parent_id is not None and _names_turn(metadata):
                        children[parent_id].append(metadata)
            thumbs = [
                (value, metadata if _names_turn(metadata) else next(iter(children[for_id]), None))
                for value, for_id, metadata in rated
            ]
            turns, by_task = _turns_of(metadata for _, metadata in thumbs)
            if by_task:
                found = select(TaskRecord.id, TaskRecord.turn_id).where(TaskRecord.id.in_(by_task))
                turn_of_task = dict((await session.execute(found)).all())
            else:
                turn_of_task = {}
            turns |= set(turn_of_task.values())
            team: dict[str, set[str]] = defaultdict(set)
            if turns:
                query = select(TaskRecord.turn_id, TaskRecord.operator).where(
                    TaskRecord.turn_id.in_(turns)
                )
                for turn_id, operator in (await session.execute(query)).all():
                    team[turn_id].add(operator)

        durations: dict[str, list[float]] = defaultdict(list)
        for operator, status, started, finished in tasks:
            row = of(operator)
            row.tasks += 1
            if status in ENDED:
                setattr(row, status, getattr(row, status) + 1)
            if status == "done" and started is not None and finished is not None:
                durations[operator].append(max(0.0, finished - started))
        for operator, seconds in durations.items():
            rows[operator].median_s = statistics.median(seconds)
            rows[operator].p95_s = percentile(seconds, 0.95)

        for agent, calls, tokens_in, tokens_out, cost in usage:
            row = of(agent or "")  # the query leaves out calls of no agent
            row.calls = int(calls)
            row.input_tokens = int(tokens_in or 0)
            row.output_tokens = int(tokens_out or 0)
            row.cost = None if cost is None else float(cost)

        up = down = 0
        for value, metadata in thumbs:
            turn, chat_answer = _turn_of(metadata, turn_of_task)
            if turn is None:
                continue
            up, down = (up + 1, down) if value == 1 else (up, down + 1)
            # A chat answer is always the Chief of Staff's; a task's posted result is its
            # operator's (the Chief's only when it was left to decide).
            contributors = {*team.get(turn, ())} | ({CHIEF_OF_STAFF.name} if chat_answer else set())
            for operator in contributors:
                row = of(operator)
                if value == 1:
                    row.thumbs_up += 1
                else:
                    row.thumbs_down += 1

        chief = rows.pop(CHIEF_OF_STAFF.name, None)
        ordered = sorted(rows.values(), key=lambda r: r.operator.casefold())
        operators = tuple([chief, *ordered] if chief else ordered)
        return StatsReport(period, user_id, operators, rated=(up, down))


def _tasks_query(
    period: Period, user_id: str | None
) -> Select[str, str, float | None, float | None]:
    # An operator's work is its delegations; a task a person asked for is counted through
    # the delegations it made (a requested `@Writer` task also leaves the Writer's record).
    where: list[ColumnElement[bool]] = [TaskRecord.origin == "delegated"]
    if period.since is not None:
        where.append(TaskRecord.created_at >= period.since.timestamp())
    if period.until is not None:
        where.append(TaskRecord.created_at < period.until.timestamp())
    if user_id is not None:
        where.append(TaskRecord.user_id == user_id)
    return select(
        TaskRecord.operator, TaskRecord.status, TaskRecord.started_at, TaskRecord.finished_at
    ).where(*where)


def _usage_query(
    period: Period, user_id: str | None
) -> Select[str | None, int, int, int, float | None]:
    where: list[ColumnElement[bool]] = [UsageRecord.agent.is_not(None)]
    if period.since is not None:
        where.append(UsageRecord.created_at >= period.since)
    if period.until is not None:
        where.append(UsageRecord.created_at < period.until)
    if user_id is not None:
        where.append(UsageRecord.user_id == user_id)
    return (
        select(
            UsageRecord.agent,
            func.count(),
            func.sum(UsageRecord.input_tokens),
            func.sum(UsageRecord.output_tokens),
            func.sum(UsageRecord.cost),  # NULL when no call of it has a price
        )
        .where(*where)
        .group_by(UsageRecord.agent)
    )


def _feedback_query(period: Period, user_id: str | None) -> Select[int, str, dict[str, Any] | None]:
    where: list[ColumnElement[bool]] = []
    if period.since is not None:
        where.append(Feedback.created_at >= period.since)
    if period.until is not None:
        where.append(Feedback.created_at < period.until)
    if user_id is not None:
        where.append(Feedback.user_id == user_id)
    return (
        select(Feedback.value, Feedback.for_id, Step.metadata_)
        .join(Step, Step.id == Feedback.for_id)
        .where(*where)
    )


def _names_turn(metadata: object) -> bool:
    """Whether a step's metadata names the turn of an answer (`run_id` or `task_id`)."""
    return isinstance(metadata, dict) and any(
        isinstance(metadata.get(key), str) for key in ("run_id", "task_id")
    )


def _turns_of(metadatas: Iterable[object]) -> tuple[set[str], set[str]]:
    """The turn ids answers name directly, and the task ids they name instead."""
    turns: set[str] = set()
    tasks: set[str] = set()
    for metadata in metadatas:
        if not isinstance(metadata, dict):
            continue
        if isinstance(run_id := metadata.get("run_id"), str):
            turns.add(run_id)
        elif isinstance(task_id := metadata.get("task_id"), str):
            tasks.add(task_id)
    return turns, tasks


def _turn_of(metadata: object, turn_of_task: dict[str, str]) -> tuple[str | None, bool]:
    """The turn an answer came from, and whether it is a chat answer (not a task's result)."""
    if not isinstance(metadata, dict):
        return None, False
    if isinstance(run_id := metadata.get("run_id"), str):
        return run_id, True
    task_id = metadata.get("task_id")
    return (turn_of_task.get(task_id) if isinstance(task_id, str) else None), False
