"""Keeps agents' instructions out of what the user sees (OWASP LLM07, system prompt leakage).

Every system prompt the runner sends starts with a canary line holding a random token made
once per process. A reply that contains the canary, or that copies a long stretch of its
call's system prompt word for word, is withheld: the user is told `WITHHELD` instead. While
the reply streams, `LeakGuard` holds back the tail that could still turn into such a copy,
so the live stream never shows it either.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence

from agents.models.base import ChatMessage

log = logging.getLogger(__name__)

CANARY = f"cadre-{secrets.token_hex(8)}"
"""Random per process: no document, user or model can know it without reading the prompt."""
CANARY_LINE = f"[{CANARY}]"
VERBATIM_CHARS = 80
"""A reply copying this many characters of its system prompt in a row is a leak. Well under
one sentence of any built-in instructions; no answer in tests/agents trips it."""
WITHHELD = "I can't share my instructions."
HOLD_CHARS = 16
"""A tail matching the prompt this long is held back until it stops matching."""
CANARY_START = len("cadre-")
"""A tail this long that begins the canary is held back too."""


def with_canary(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """`messages` with the canary line first in each system message (once).

    A bare token on its own line: a sentence about it ("never repeat this marker"), put after
    the instructions, changed what the bundled 1.5B answered (tests/e2e/test_answers_socket.py
    lost a fact of a follow-up answer); this form passed it twice.
    """
    return [
        ChatMessage.system(f"{CANARY_LINE}\n{m.content}")
        if m.role == "system" and CANARY not in m.content
        else m
        for m in messages
    ]


def _normal(char: str) -> str:
    return " " if char.isspace() else char.lower()


def _normalize(text: str) -> str:
    return " ".join(text.split()).lower()


class LeakGuard:
    """Watches one streamed reply against the system prompt it was given.

    `feed` returns the part of the text that is safe to show now; `finish` the rest. The
    tail that matches the system prompt (whitespace and case aside) is held back until it
    stops matching; once it reaches `VERBATIM_CHARS` or contains the canary, `leaked` is set
    and nothing more is released.
    """

    def __init__(self, messages: Sequence[ChatMessage]) -> None:
        self._source = " ".join(_normalize(m.content) for m in messages if m.role == "system")
        self._canary = CANARY.lower()
        self._text: list[str] = []
        self._match = ""
        """The longest normalized suffix of the text that occurs in the system prompt."""
        self._starts: list[int] = []
        """Index in `_text` where each character of `_match` came from."""
        self._released = 0
        self.leaked = False

    def feed(self, chunk: str) -> str:
        """Take the next piece of the reply; return what may be shown now."""
        if self.leaked:
            return ""
        for char in chunk:
            index = len(self._text)
            self._text.append(char)
            if not self._source:
                continue
            normal = _normal(char)
            if normal == " " and self._match.endswith(" "):
                continue  # a run of whitespace counts as one space
            self._match += normal
            self._starts.append(index)
            while self._match and self._match not in self._source:
                self._match = self._match[1:]
                self._starts.pop(0)
            if len(self._match) >= VERBATIM_CHARS or self._match.endswith(self._canary):
                self.leaked = True
                log.warning(
                    "A reply repeated its instructions (%s); it was withheld",
                    "canary" if self._match.endswith(self._canary) else "verbatim copy",
                )
                return self._release(self._starts[0])  # what came before the copy
        return self._release(self._held_from())

    def _held_from(self) -> int:
        """Where the tail to hold back starts: a match long enough to be a copy in the
        making, or the start of the canary. Shorter matches are everyday words ("the
        passages") and pass at once, in the pieces the model sent."""
        if not self._starts:
            return len(self._text)
        if len(self._match) >= HOLD_CHARS:
            return self._starts[0]
        for size in range(len(self._match), CANARY_START - 1, -1):
            if self._canary.startswith(self._match[-size:]):
                return self._starts[len(self._match) - size]
        return len(self._text)

    def finish(self) -> str:
        """The end of the reply: what is still held back, unless the reply leaked."""
        return "" if self.leaked else self._release(len(self._text))

    def _release(self, upto: int) -> str:
        if upto <= self._released:
            return ""
        out = "".join(self._text[self._released : upto])
        self._released = upto
        return out


def leaks(text: str, messages: Sequence[ChatMessage]) -> bool:
    """Whether `text` contains the canary or a long copy of the system prompt of `messages`."""
    guard = LeakGuard(messages)
    guard.feed(text)
    return guard.leaked
