"""Slows password guessing: too many failures for a login name, or from one address, pause
password logins for a while.

A name is counted the way the password check reads it (surrounding whitespace dropped) and
case-folded, so `" carol"`, `"carol "` and `"CAROL"` are all `carol` here too. The address
is the connecting peer's, as the server sees it (never a header the client can write); the
address limit is higher, because a proxy or an office NAT puts many people behind one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_FAILURES = 10
MAX_ADDRESS_FAILURES = 50
WINDOW_S = 600.0
_MAX_KEYS = 10_000

login_address: ContextVar[str | None] = ContextVar("cadre_login_address", default=None)
"""The address of the peer making the current HTTP request (set by `LoginAddressMiddleware`)."""


def name_key(name: str) -> str:
    """The one form of a login name that throttling counts under."""
    return name.strip().casefold()


@dataclass
class _Window:
    """Failure times per key within a sliding window, bounded in memory."""

    limit: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[str, list[float]] = field(default_factory=OrderedDict)

    def full(self, key: str) -> bool:
        return len(self._recent(key)) >= self.limit

    def add(self, key: str) -> None:
        recent = self._recent(key)
        recent.append(self.clock())
        self._failures[key] = recent
        self._failures.move_to_end(key)
        while len(self._failures) > _MAX_KEYS:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> list[float]:
        cutoff = self.clock() - self.window_s
        return [moment for moment in self._failures.get(key, []) if moment > cutoff]


@dataclass
class LoginThrottle:
    """Counts failed logins per name and per address, in process memory (a restart forgets).

    Once a name has `max_failures` failures within `window_s` seconds, or an address has
    `max_address_failures`, password logins for it are refused without checking the password
    until the oldest failure leaves the window. The cost of the per-name limit is that a
    guesser can keep one account's password logins paused (single sign-on and existing
    sessions keep working).
    """

    max_failures: int = MAX_FAILURES
    max_address_failures: int = MAX_ADDRESS_FAILURES
    window_s: float = WINDOW_S
    clock: Callable[[], float] = time.monotonic
    """Seconds from an arbitrary start; tests pass their own to move time."""
    _names: _Window = field(init=False)
    _addresses: _Window = field(init=False)

    def __post_init__(self) -> None:
        self._names = _Window(self.max_failures, self.window_s, self.clock)
        self._addresses = _Window(self.max_address_failures, self.window_s, self.clock)

    def blocked(self, name: str, address: str | None = None) -> bool:
        """Whether password logins for `name` (from `address`) are refused right now."""
        return self._names.full(name_key(name)) or (
            address is not None and self._addresses.full(address)
        )

    def failed(self, name: str, address: str | None = None) -> None:
        """Record a failed login for `name` from `address`."""
        self._names.add(name_key(name))
        if address is not None:
            self._addresses.add(address)

    def succeeded(self, name: str) -> None:
        """Forget the failures of `name` after a successful login (not its address's)."""
        self._names.clear(name_key(name))


class LoginAddressMiddleware:
    """Makes the peer address of each HTTP request known to the login callback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = login_address.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            login_address.reset(token)
