"""One slot for a model that can serve one generation at a time, handed out by priority.

On a 2-core machine two concurrent generations are each slower than one after the other,
so local models serve one request at a time. Waiting requests are served by priority
(urgent first), then in arrival order, and each waiting caller is told its place in line,
which can change while it waits: urgent work that arrives later goes ahead of it.

The priority of a model call comes from the work it serves, not from the call site: the
background task runner sets `generation_priority` around a task's turn, and every model
call made inside it (the Chief of Staff's, each operator's) inherits it through the
context. Everything else (chat turns) is "normal".
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Literal

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: tuple[Priority, ...] = ("urgent", "high", "normal", "low")
"""Most pressing first."""

generation_priority: ContextVar[Priority] = ContextVar("generation_priority", default="normal")
"""The priority of the work the current task serves."""


@contextmanager
def serving(priority: Priority) -> Iterator[None]:
    """Model calls made inside the block (and in tasks started there) wait at `priority`."""
    token = generation_priority.set(priority)
    try:
        yield
    finally:
        generation_priority.reset(token)


class _Ticket:
    __slots__ = ("key", "moved")

    def __init__(self, key: tuple[int, int]) -> None:
        self.key = key
        """(priority rank, arrival number): the smaller goes first."""
        self.moved = asyncio.Event()


class GenerationQueue:
    """Admits one holder at a time, by priority then arrival, reporting each waiter's place."""

    def __init__(self) -> None:
        self._holder: _Ticket | None = None
        self._waiting: list[_Ticket] = []
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        """How many callers wait behind the current holder."""
        return len(self._waiting)

    @asynccontextmanager
    async def turn(self, priority: Priority | None = None) -> AsyncIterator[AsyncIterator[int]]:
        """Join the line; iterate the yielded positions until it is your turn.

        Usage::

            async with queue.turn() as positions:
                async for position in positions:
                    report(position)   # 1 = next in line; it may grow when urgent work comes
                ...                    # now this caller holds the model

        `priority` defaults to `generation_priority` of the calling context. Leaving the block
        (normally, by error or by cancellation) hands the model on.
        """
        rank = PRIORITIES.index(priority or generation_priority.get())
        ticket = _Ticket((rank, next(self._arrivals)))
        if self._holder is None and not self._waiting:
            self._holder = ticket
        else:
            bisect.insort(self._waiting, ticket, key=lambda t: t.key)
            self._nudge()
        try:
            yield self._positions(ticket)
        finally:
            if self._holder is ticket:
                self._holder = self._waiting.pop(0) if self._waiting else None
            else:
                self._waiting.remove(ticket)
            self._nudge()

    def _nudge(self) -> None:
        """Wake everyone in line to look at their place again."""
        for ticket in (self._holder, *self._waiting):
            if ticket is not None:
                ticket.moved.set()

    async def _positions(self, ticket: _Ticket) -> AsyncIterator[int]:
        reported = 0
        while self._holder is not ticket:
            position = self._waiting.index(ticket) + 1
            if position != reported:
                yield position
                reported = position
            await ticket.moved.wait()
            ticket.moved.clear()


class PrioritySemaphore:
    """At most `capacity` holders at once; waiters are admitted by priority, then arrival.

    The operators' concurrency slots use it: a slot that admitted work in arrival order would
    let low-priority work reach the model queue ahead of urgent work waiting for the same
    operator, and the queue's order would never come into play.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a semaphore needs a capacity of at least 1")
        self._free = capacity
        self._waiting: list[tuple[tuple[int, int], asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        """How many callers wait for a slot."""
        return len(self._waiting)

    def locked(self) -> bool:
        """Whether a caller would have to wait now (like `asyncio.Semaphore.locked`)."""
        return self._free == 0 or bool(self._waiting)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    async def acquire(self) -> None:
        """Take a slot, waiting at the calling context's priority if none is free."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        rank = PRIORITIES.index(generation_priority.get())
        entry = ((rank, next(self._arrivals)), asyncio.get_running_loop().create_future())
        bisect.insort(self._waiting, entry, key=lambda e: e[0])
        try:
            await entry[1]
        except asyncio.CancelledError:
            if entry in self._waiting:
                self._waiting.remove(entry)
            elif entry[1].done() and not entry[1].cancelled():
                self.release()  # granted just as it was cancelled: pass the slot on
            raise

    def release(self) -> None:
        """Give a slot back: to the most pressing waiter, else to the pool."""
        while self._waiting:
            _, granted = self._waiting.pop(0)
            if not granted.done():
                granted.set_result(None)
                return
        self._free += 1
