"""Sliding-window limits counted in the database, so every server process counts the same
events: failed logins per name and per address, a widget visitor's messages per minute.

Each counted event is one row of `limit_events` (kind, key, unix time). A check and the
event it lets through are one transaction that holds a lock on each (kind, key) it counts:
SQLite's write lock (BEGIN IMMEDIATE), or a PostgreSQL advisory lock per key, so two
processes racing for the last free place cannot both take it. Expired rows of a kind are
deleted by the next event of that kind once a window has passed since the last clean-up.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Index,
    Integer,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

__all__ = ["EventWindows", "Limit", "LimitEvent", "Taken"]

_KEY_CHARS = 128
"""Longer keys (a pasted novel as a login name) are stored as their SHA-256."""


class LimitEvent(Base):
    """One counted event: a failed (or not yet checked) login, a widget visitor's message."""

    __tablename__ = "limit_events"
    __table_args__ = (
        Index("ix_limit_events_kind_key_at", "kind", "key", "at"),
        Index("ix_limit_events_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    """What is counted: `login-name`, `login-address`, `widget-message`."""
    key: Mapped[str] = mapped_column(String(255))
    """Whose events: a case-folded login name, a peer address, a visitor's user id."""
    at: Mapped[float] = mapped_column(Double)
    """Unix seconds (wall clock: processes on several machines compare them)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `most` events of `kind` for `key` within the last `window_s` seconds."""

    kind: str
    key: str
    most: int
    window_s: float


@dataclass(frozen=True, slots=True)
class Taken:
    """What `EventWindows.take` found and did."""

    counts: tuple[int, ...]
    """Events within each limit's window before this one, in the order the limits came."""
    full: tuple[bool, ...]
    """Whether each limit had no room left."""
    ids: tuple[int, ...] = ()
    """The rows recorded for this event (one per limit); empty when nothing was recorded."""

    @property
    def admitted(self) -> bool:
        """Every limit had room."""
        return not any(self.full)


class _Sessions(Protocol):
    def reading(self) -> AbstractAsyncContextManager[AsyncSession]: ...

    def writing(self) -> AbstractAsyncContextManager[AsyncSession]: ...


@dataclass
class EventWindows:
    """Counts and records limited events in `limit_events` through `store`'s sessions."""

    store: _Sessions
    clock: Callable[[], float] = time.time
    """Unix seconds; tests pass their own to move time."""
    _pruned: dict[str, float] = field(default_factory=dict)

    async def take(self, limits: Sequence[Limit], *, record: bool = True) -> Taken:
        """Count each limit's recent events and, if `record` and every limit has room, record
        this event under each, all in one transaction that no other process can interleave.
        """
        now = self.clock()
        if not record:
            async with self.store.reading() as session:
                counts = await _counts(session, limits, now)
            return _taken(limits, counts)
        async with self.store.writing() as session:
            if session.get_bind().dialect.name == "postgresql":
                for lock in sorted({_lock_id(limit) for limit in limits}):
                    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock})
            counts = await _counts(session, limits, now)
            taken = _taken(limits, counts)
            if not taken.admitted:
                return taken
            rows = [{"kind": lim.kind, "key": _stored(lim.key), "at": now} for lim in limits]
            ids = await session.scalars(insert(LimitEvent).returning(LimitEvent.id), rows)
            await self._prune(session, limits, now)
            return Taken(taken.counts, taken.full, tuple(ids))

    async def forget(self, kind: str, key: str, *, rows: Sequence[int] = ()) -> None:
        """Delete every event of `kind` for `key`, and the rows with ids `rows`."""
        match = and_(LimitEvent.kind == kind, LimitEvent.key == _stored(key))
        async with self.store.writing() as session:
            await session.execute(delete(LimitEvent).where(or_(match, LimitEvent.id.in_(rows))))

    async def _prune(self, session: AsyncSession, limits: Sequence[Limit], now: float) -> None:
        for limit in limits:
            if now - self._pruned.get(limit.kind, float("-inf")) < limit.window_s:
                continue
            self._pruned[limit.kind] = now
            await session.execute(
                delete(LimitEvent).where(
                    LimitEvent.kind == limit.kind, LimitEvent.at <= now - limit.window_s
                )
            )


async def _counts(session: AsyncSession, limits: Sequence[Limit], now: float) -> list[int]:
    """Events within each limit's window, in one query over the (kind, key, at) index."""
    matches: list[ColumnElement[bool]] = [
        and_(
            LimitEvent.kind == limit.kind,
            LimitEvent.key == _stored(limit.key),
            LimitEvent.at > now - limit.window_s,
        )
        for limit in limits
    ]
    row = (
        await session.execute(
            select(*(func.coalesce(func.sum(case((m, 1), else_=0)), 0) for m in matches)).where(
                or_(*matches)
            )
        )
    ).one()
    return [int(count) for count in row]


def _taken(limits: Sequence[Limit], counts: Sequence[int]) -> Taken:
    full = tuple(count >= limit.most for count, limit in zip(counts, limits, strict=True))
    return Taken(tuple(counts), full)


def _stored(key: str) -> str:
    """The key as stored: itself, or its digest when long or unstorable (PostgreSQL text
    cannot hold NUL)."""
    if len(key) <= _KEY_CHARS and "\x00" not in key:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _lock_id(limit: Limit) -> int:
    """A signed 64-bit advisory lock id for (kind, key)."""
    name = f"{limit.kind}\x00{_stored(limit.key)}".encode()
    digest = hashlib.blake2b(name, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
