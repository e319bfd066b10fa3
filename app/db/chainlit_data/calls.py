"""Decorators for data-layer methods: failures are logged then raised; writes wait for chat,
run one at a time per chat session in the order they were made, and are tracked so a turn can
wait for the ones Chainlit never awaits."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from chainlit.context import ChainlitContextException, context
from chainlit.session import WebsocketSession

from app.db.errors import NotFoundError

log = logging.getLogger("app.db.chainlit_data.layer")

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
Method = Callable[Concatenate[S, P], Coroutine[Any, Any, R]]


def logged(method: Method[S, P, R]) -> Method[S, P, R]:
    """Log every failure with the method's name, then re-raise it unchanged."""

    async def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(self, *args, **kwargs)
        except NotFoundError as exc:
            log.warning("data layer refused %s: %s", method.__name__, exc.detail)
            raise
        except Exception:
            log.exception("data layer %s failed", method.__name__)
            raise

    functools.update_wrapper(wrapper, method)
    return wrapper


_WRITES: dict[str, set[asyncio.Task[object]]] = {}
"""Data-layer writes running now, by chat session id."""

_IN_ORDER: dict[str, asyncio.Lock] = {}
"""One lock per chat session with writes under way: they run one at a time, oldest first."""

_SETTLE_TIMEOUT_S = 10.0


async def settle_writes(session_id: str, timeout: float = _SETTLE_TIMEOUT_S) -> None:  # noqa: ASYNC109
    """Wait (at most `timeout` s) for the writes of session `session_id` now under way.

    Chainlit stores a message in a task it never awaits (`asyncio.create_task(create_step)`):
    a turn that ends right after showing its answer could be told finished while the answer
    is not yet stored, and a crash then loses it.
    """
    await asyncio.sleep(0)  # writes created a moment ago start, and register, now
    current = asyncio.current_task()
    pending = {t for t in _WRITES.get(session_id, ()) if not t.done() and t is not current}
    if pending:
        await asyncio.wait(pending, timeout=timeout)


def queued(method: Method[S, P, R]) -> Method[S, P, R | None]:
    """Chainlit's queue-until-first-message rule, tolerant of code running outside a session.

    Before a websocket session's first user message the call is parked on the session (so a
    chat the user never speaks in leaves no thread); Chainlit flushes the queue after
    naming the thread. Outside any Chainlit session the call runs at once.
    """

    async def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            session = context.session
        except ChainlitContextException:
            session = None
        if isinstance(session, WebsocketSession) and not session.has_first_interaction:
            queue = session.thread_queues.setdefault(method.__name__, deque())
            queue.append((method, self, args, kwargs))
            return None
        task = asyncio.current_task()
        if session is None or task is None:
            return await method(self, *args, **kwargs)
        writes = _WRITES.setdefault(session.id, set())
        writes.add(task)
        # Chainlit sends each update of a step in a task of its own: run side by side, an
        # older update ("Reading your files") could commit after the newer one ("Read 1 of 1
        # file") and be what the thread keeps. Tasks start in the order they were made and
        # the lock wakes its waiters first come, first served, so writes land in that order.
        in_order = _IN_ORDER.setdefault(session.id, asyncio.Lock())
        try:
            async with in_order:
                return await method(self, *args, **kwargs)
        finally:
            writes.discard(task)
            if not writes:
                _WRITES.pop(session.id, None)
                _IN_ORDER.pop(session.id, None)

    functools.update_wrapper(wrapper, method)
    return wrapper
