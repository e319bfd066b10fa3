"""Slows password guessing: after too many failures a login name is refused for a while."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_FAILURES = 10
WINDOW_S = 600.0
_MAX_NAMES = 10_000


@dataclass
class LoginThrottle:
    """Counts failed logins per name in process memory (a restart forgets them).

    Once a name has `max_failures` failures within `window_s` seconds, its logins are
    refused without checking the password until the oldest failure leaves the window.
    Keyed by name, not address, so rotating addresses does not help a guesser; the cost
    is that a guesser can keep one account's password logins refused (single sign-on and
    existing sessions keep working).
    """

    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    _failures: OrderedDict[str, list[float]] = field(default_factory=OrderedDict)

    def blocked(self, name: str) -> bool:
        """Whether logins for `name` are refused right now."""
        return len(self._recent(name.casefold())) >= self.max_failures

    def failed(self, name: str) -> None:
        """Record a failed login for `name`."""
        key = name.casefold()
        recent = self._recent(key)
        recent.append(time.monotonic())
        self._failures[key] = recent
        self._failures.move_to_end(key)
        while len(self._failures) > _MAX_NAMES:
            self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        """Forget the failures of `name` after a successful login."""
        self._failures.pop(name.casefold(), None)

    def _recent(self, key: str) -> list[float]:
        cutoff = time.monotonic() - self.window_s
        return [moment for moment in self._failures.get(key, []) if moment > cutoff]
