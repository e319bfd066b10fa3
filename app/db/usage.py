"""The usage ledger: tokens each model call spent, by whom, in which conversation.

Rows outlive their thread (the foreign key is set to NULL), so totals per user and per
model stay right after people delete chats.
"""

from __future__ import annotations

from sqlalchemy import func, select

from app.db.domain import UsageRecord
from app.db.sessions import Sessions
from app.db.stores import ensure_thread


class UsageLedger:
    """Appends one row per model call; sums them for a user."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def record(
        self,
        *,
        user_id: str | None,
        thread_id: str | None,
        run_id: str,
        agent: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost: float | None = None,
        duration_s: float | None = None,
        outcome: str = "ok",
    ) -> None:
        """Add one model call: its tokens, cost (when the model has a price), time, outcome."""
        async with self._sessions.writing() as session:
            if thread_id is not None:
                await ensure_thread(session, self._sessions, thread_id, user_id)
            session.add(
                UsageRecord(
                    user_id=user_id,
                    thread_id=thread_id,
                    run_id=run_id,
                    agent=agent,
                    model=model,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cost=cost,
                    duration_s=duration_s,
                    outcome=outcome,
                )
            )

    async def totals(self, user_id: str) -> tuple[int, int]:
        """All input and output tokens recorded for `user_id`."""
        query = select(
            func.coalesce(func.sum(UsageRecord.input_tokens), 0),
            func.coalesce(func.sum(UsageRecord.output_tokens), 0),
        ).where(UsageRecord.user_id == user_id)
        async with self._sessions.reading() as session:
            row = (await session.execute(query)).one()
        return int(row[0]), int(row[1])
