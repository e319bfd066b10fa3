"""Slows password guessing: too many failures for a login name, or from one address, pause
password logins for a while.

A name is counted the way the password check reads it (surrounding whitespace dropped) and
case-folded, so `" carol"`, `"carol "` and `"CAROL"` are all `carol` here too. The address
is the connecting peer's, as the server sees it (never a header the client can write); the
address limit is higher, because a proxy or an office NAT puts many people behind one.
Failures are rows of the shared database (`app.db.limits`), so several server processes
behind a load balancer count them together.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from app.db.limits import EventWindows, Limit

MAX_FAILURES = 10
MAX_ADDRESS_FAILURES = 50
WINDOW_S = 600.0
NAME_KIND = "login-name"
ADDRESS_KIND = "login-address"

login_address: ContextVar[str | None] = ContextVar("cadre_login_address", default=None)
"""The address of the peer making the current HTTP request (set by `LoginAddressMiddleware`)."""


def name_key(name: str) -> str:
    """The one form of a login name that throttling counts under."""
    return name.strip().casefold()


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A password login let through, counted as a failure until `LoginThrottle.succeeded`."""

    name: str
    rows: tuple[int, ...]


@dataclass
class LoginThrottle:
    """Counts failed logins per name and per address in the database, so every server
    process sharing it counts the same failures (a restart forgets nothing either).

    Once a name has `max_failures` failures within `window_s` seconds, or an address has
    `max_address_failures`, password logins for it are refused without checking the password
    until the oldest failure leaves the window. An attempt counts as a failure from the moment
    it is let through until its password is found right, so a burst of parallel guesses
    cannot all pass the check before the first failure is written. The cost of the per-name
    limit is that a guesser can keep one account's password logins paused (single sign-on
    and existing sessions keep working).
    """

    windows: EventWindows
    max_failures: int = MAX_FAILURES
    max_address_failures: int = MAX_ADDRESS_FAILURES
    window_s: float = WINDOW_S

    async def attempt(self, name: str, address: str | None = None) -> LoginAttempt | None:
        """Let a password login for `name` (from `address`) through, counted as a failure;
        None when logins for the name or the address are paused right now."""
        key = name_key(name)
        limits = [Limit(NAME_KIND, key, self.max_failures, self.window_s)]
        if address is not None:
            limits.append(Limit(ADDRESS_KIND, address, self.max_address_failures, self.window_s))
        taken = await self.windows.take(limits)
        return LoginAttempt(key, taken.ids) if taken.admitted else None

    async def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: forget the name's failures, and this attempt's own count
        against the address (the address keeps its other failures)."""
        await self.windows.forget(NAME_KIND, attempt.name, rows=attempt.rows)


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
