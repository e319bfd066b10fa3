"""A first-in, first-out slot for a model that can serve one generation at a time.

On a 2-core machine two concurrent generations are each slower than one after the other,
so local models serve requests in arrival order and tell waiting callers their position.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class _Ticket:
    __slots__ = ("moved",)

    def __init__(self) -> None:
        self.moved = asyncio.Event()


class GenerationQueue:
    """Admits one holder at a time, in arrival order, reporting each waiter's position."""

    def __init__(self) -> None:
        self._line: list[_Ticket] = []

    @property
    def waiting(self) -> int:
        """How many callers wait behind the current holder."""
        return max(0, len(self._line) - 1)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[AsyncIterator[int]]:
        """Join the line; iterate the yielded positions until it is your turn.

        Usage::

            async with queue.turn() as positions:
                async for position in positions:
                    report(position)   # 1 = next in line
                ...                    # now this caller holds the model

        Leaving the block (normally, by error or by cancellation) hands the model on.
        """
        ticket = _Ticket()
        self._line.append(ticket)
        try:
            yield self._positions(ticket)
        finally:
            self._line.remove(ticket)
            for other in self._line:
                other.moved.set()

    async def _positions(self, ticket: _Ticket) -> AsyncIterator[int]:
        while (position := self._line.index(ticket)) > 0:
            yield position
            await ticket.moved.wait()
            ticket.moved.clear()
