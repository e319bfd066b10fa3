"""Limits counted in the database (`app.db.limits`), on SQLite and PostgreSQL: sliding
windows, one place taken once however many processes race for it, expired rows cleaned up,
and a widget visitor's messages counted together by two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from app.auth.sites import SiteStore, VisitorLimitError, VisitorLimits
from app.db.limits import EventWindows, Limit, LimitEvent
from app.db.sessions import EngineSessions


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[tuple[EngineSessions, EngineSessions]]:
    """Two connection pools on one database, as two server processes have."""
    a, b = EngineSessions(db_url), EngineSessions(db_url)
    yield a, b
    await a.close()
    await b.close()


async def _rows(sessions: EngineSessions) -> int:
    async with sessions.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(LimitEvent)) or 0)


async def test_a_window_counts_recent_events_and_forgets_old_ones(
    two: tuple[EngineSessions, EngineSessions],
) -> None:
    now = [5000.0]
    windows = EventWindows(two[0], clock=lambda: now[0])
    limit = Limit("test", "ada", most=2, window_s=60)
    first = await windows.take([limit])
    assert (first.admitted, first.counts, len(first.ids)) == (True, (0,), 1)
    now[0] += 30
    assert (await windows.take([limit])).counts == (1,)
    refused = await windows.take([limit])
    assert (refused.admitted, refused.counts, refused.ids) == (False, (2,), ())
    assert await _rows(two[0]) == 2  # a refused event is not recorded
    peek = await windows.take([Limit("test", "bob", 2, 60)], record=False)
    assert (peek.admitted, peek.ids) == (True, ())
    now[0] += 30  # the first event is exactly 60 s old: out of the window
    assert (await windows.take([limit])).counts == (1,)
    await windows.forget("test", "ada")
    assert (await windows.take([limit], record=False)).counts == (0,)


async def test_every_limit_must_have_room_and_all_are_recorded_together(
    two: tuple[EngineSessions, EngineSessions],
) -> None:
    windows = EventWindows(two[0])
    name, address = Limit("name", "ada", 5, 600), Limit("address", "10.0.0.1", 1, 600)
    taken = await windows.take([name, address])
    assert taken.admitted
    assert len(taken.ids) == 2
    refused = await windows.take([name, address])
    assert refused.full == (False, True)
    assert (await windows.take([name], record=False)).counts == (1,)
    await windows.forget("name", "ada", rows=taken.ids)  # both rows of that event
    assert await _rows(two[0]) == 0


async def test_processes_racing_for_the_last_places_take_each_once(
    two: tuple[EngineSessions, EngineSessions],
) -> None:
    a, b = (EventWindows(sessions) for sessions in two)
    limit = Limit("race", "visitor-1", most=5, window_s=60)
    results = await asyncio.gather(*(w.take([limit]) for w in [a, b] * 15))
    assert sum(r.admitted for r in results) == 5
    assert await _rows(two[0]) == 5


async def test_expired_rows_are_deleted_by_a_later_event_of_their_kind(
    two: tuple[EngineSessions, EngineSessions],
) -> None:
    now = [1000.0]
    windows = EventWindows(two[0], clock=lambda: now[0])
    for n in range(4):
        await windows.take([Limit("clean", f"key-{n}", 10, 60)])
    await windows.take([Limit("other", "x", 10, 600)])
    now[0] += 61
    await windows.take([Limit("clean", "key-new", 10, 60)])
    # The four expired rows of "clean" are gone; "other" (a longer window) is untouched.
    assert await _rows(two[0]) == 2


async def test_long_and_unstorable_keys_are_counted_by_their_digest(
    two: tuple[EngineSessions, EngineSessions],
) -> None:
    windows = EventWindows(two[0])
    for key in ("x" * 10_000, "nul\x00name"):
        limit = Limit("odd", key, 1, 60)
        assert (await windows.take([limit])).admitted
        assert not (await windows.take([limit])).admitted
        await windows.forget("odd", key)
        assert (await windows.take([limit], record=False)).counts == (0,)


async def test_a_visitors_messages_through_two_processes_count_together(
    two: tuple[EngineSessions, EngineSessions],
) -> None:
    sites_a, sites_b = SiteStore(two[0]), SiteStore(two[1])
    site = await sites_a.add("https://shop.example", "Shop", rate_per_minute=3)
    visitor, _, _ = await sites_a.visitor(site, None, None)
    on_a, on_b = VisitorLimits(), VisitorLimits()
    await on_a.admit(sites_a, visitor, site)
    await on_b.admit(sites_b, visitor, site)
    await on_a.admit(sites_a, visitor, site)
    for limits, sites in ((on_b, sites_b), (on_a, sites_a)):
        with pytest.raises(VisitorLimitError, match=r"sent 3 messages in the last minute"):
            await limits.admit(sites, visitor, site)
    other, _, _ = await sites_b.visitor(site, None, None)
    await on_b.admit(sites_b, other, site)  # each visitor has their own count
