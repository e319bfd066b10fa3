"""The per-person limits of signed-in users: messages per minute and tokens per UTC day.

They hold on every channel together (the chat, `/v1` with a personal key), across restarts
and across the processes that share the database: messages are counted as `user-message`
events in `limit_events` (`app.db.limits`), tokens are summed from the usage ledger. A
refused message is not counted. Widget visitors are held by their site's own limits instead
(`app.auth.sites.VisitorLimits`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from app.auth.errors import AuthError
from app.auth.users import SessionSource
from app.db.domain import UsageRecord
from app.db.limits import EventWindows, Limit
from app.db.types import utcnow

__all__ = ["USER_KIND", "UserLimitError", "UserLimits", "tokens_today"]

USER_KIND = "user-message"
"""The `limit_events` kind of a signed-in person's messages."""
_WINDOW_S = 60.0


class UserLimitError(AuthError):
    """A person sent too many messages in the last minute or used today's tokens."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
        """`messages` or `tokens`: which limit refused."""


async def tokens_today(store: SessionSource, user_id: str) -> int:
    """Model tokens the user's turns used since midnight UTC."""
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    query = select(
        func.coalesce(func.sum(UsageRecord.input_tokens + UsageRecord.output_tokens), 0)
    ).where(UsageRecord.user_id == user_id, UsageRecord.created_at >= midnight)
    async with store.reading() as session:
        return int(await session.scalar(query) or 0)


class UserLimits:
    """Admits one message of a signed-in person, or says which limit refused it and until when.

    Admins are held too: a leaked admin key or a runaway admin script spends the same model
    and the same money as anyone's, and an admin who needs more raises the setting.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: EventWindows | None = None

    async def admit(
        self, store: SessionSource, user_id: str, *, per_minute: int, tokens_per_day: int
    ) -> None:
        """Count one message of `user_id`; `UserLimitError` (nothing counted) if over a limit.

        `per_minute` or `tokens_per_day` of 0 turns that limit off.
        """
        if tokens_per_day > 0:
            used = await tokens_today(store, user_id)
            if used >= tokens_per_day:
                now = utcnow()
                reset = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
                minutes = max(1, int((reset - now).total_seconds() // 60))
                raise UserLimitError(
                    f"You have used today's allowance of {tokens_per_day} tokens ({used} "
                    f"used). It resets at 00:00 UTC, in {minutes // 60} h {minutes % 60} min.",
                    kind="tokens",
                )
        if per_minute <= 0:
            return
        if self._windows is None or self._windows.store is not store:
            self._windows = EventWindows(store, self._clock)  # one per database
        taken = await self._windows.take([Limit(USER_KIND, user_id, per_minute, _WINDOW_S)])
        if not taken.admitted:
            raise UserLimitError(
                f"You have sent {taken.counts[0]} messages in the last minute; wait a moment.",
                kind="messages",
            )
