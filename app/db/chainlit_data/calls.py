"""Decorators for data-layer methods: failures are logged then raised; writes wait for chat."""

from __future__ import annotations

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
        return await method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper
