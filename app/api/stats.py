"""`/api/stats`: how each operator performed over a period (app/db/stats.py computes it).

A member gets the figures of their own usage; an admin everyone's, or one user's with
`user=<login name>`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from app.api.principal import Authenticated, Principal
from app.auth.users import UserDirectory
from app.db.stats import OperatorStats, OperatorStatsStore, Period
from app.services import Services

__all__ = ["OperatorStatsOut", "StatsOut", "stats_router"]


class OperatorStatsOut(BaseModel):
    """One operator's figures over the period."""

    operator: str
    tasks: int
    """Tasks handed to it in the period (by creation time), whatever became of them."""
    done: int
    failed: int
    cancelled: int
    success_rate: float | None
    """done / (done + failed), 0-1; null without either."""
    median_s: float | None
    """Median seconds a done task took, start to finish."""
    p95_s: float | None
    """95th percentile (nearest rank) of the same."""
    calls: int
    """Model calls its runs made."""
    input_tokens: int
    output_tokens: int
    cost: float | None
    """US dollars of the calls whose model has a price; null when none has."""
    thumbs_up: int
    thumbs_down: int
    """Feedback on the answers it contributed to."""


class StatsOut(BaseModel):
    """Per operator figures, the Chief of Staff first, and the totals."""

    since: datetime | None
    until: datetime | None
    user: str | None
    """Whose usage (a login name); null for everyone's."""
    operators: list[OperatorStatsOut]
    total: OperatorStatsOut
    """All operators together; latencies are not combined (null)."""


def stats_out(row: OperatorStats) -> OperatorStatsOut:
    """The wire form of one operator's figures."""
    return OperatorStatsOut(
        operator=row.operator,
        tasks=row.tasks,
        done=row.done,
        failed=row.failed,
        cancelled=row.cancelled,
        success_rate=row.success_rate,
        median_s=row.median_s,
        p95_s=row.p95_s,
        calls=row.calls,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost=row.cost,
        thumbs_up=row.thumbs_up,
        thumbs_down=row.thumbs_down,
    )


def stats_router(services: Services) -> APIRouter:
    """The `/api/stats` route."""
    router = APIRouter(prefix="/api/stats", tags=["stats"])
    member = Depends(Authenticated(services))
    store = OperatorStatsStore(services.data_layer)
    users = UserDirectory(services.data_layer)

    @router.get(
        "",
        summary="Operator performance over a period",
        response_model=StatsOut,
        responses={
            401: {"description": "No API key or session."},
            403: {"description": "A member asked for another user's figures."},
            404: {"description": "No such user."},
        },
    )
    async def stats(
        principal: Principal = member,
        since: Annotated[
            datetime | date | None,
            Query(description="From this date or time (UTC when unzoned); omitted: the start."),
        ] = None,
        until: Annotated[
            datetime | date | None,
            Query(description="Before this date or time (a date: its first moment); omitted: now."),
        ] = None,
        user: Annotated[
            str | None,
            Query(max_length=255, description="Admins: one user's figures (login name)."),
        ] = None,
    ) -> StatsOut:
        """Tasks, success rate, median and p95 latency, tokens, cost and thumbs up/down per
        operator, from stored records: yours, or (admins) everyone's or one user's."""
        period = Period(
            since=None if since is None else _moment(since),
            until=None if until is None else _moment(until),
        )
        if period.since and period.until and period.since >= period.until:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY, "since must be earlier than until."
            )
        if not principal.is_admin:
            if user is not None and user != principal.identifier:
                raise HTTPException(status.HTTP_403_FORBIDDEN, "Members see their own figures.")
            user_id: str | None = principal.user_id
            user = principal.identifier
        elif user is not None:
            account = await users.get(user)
            if account is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such user.")
            user_id = account.id
        else:
            user_id = None
        report = await store.report(period, user_id)
        return StatsOut(
            since=period.since,
            until=period.until,
            user=user,
            operators=[stats_out(row) for row in report.operators],
            total=stats_out(report.total),
        )

    return router


def _moment(value: datetime | date) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
