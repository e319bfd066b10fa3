"""Error sentences made safe to show a person: no keys, no paths, no stack traces.

Providers echo what they were sent ("Incorrect API key provided: sk-...abcd"), exceptions name
files on the server, and a traceback names both. Every channel turns an error into user text
through `scrub_error`; the logs keep the full detail.
"""

from __future__ import annotations

import re

_SECRETS: set[str] = set()
"""Configured keys, registered by the providers that hold them."""

_TRACEBACK = re.compile(r"Traceback \(most recent call last\):.*", re.S)
_FRAME = re.compile(r'\s*File "[^"]*", line \d+[^\n]*')
_KEYS = re.compile(
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}"  # OpenAI / Anthropic style (sk-proj-, sk-ant-)
    r"|\b(?:gh[pousr]_|xox[abp]-|AKIA)[A-Za-z0-9_\-]{10,}"
    r"|\bcadre_[A-Za-z0-9_\-]{16,}"
    r"|(?i:\bbearer\s+)[A-Za-z0-9_\-.=:+/]{8,}"
    r"|\b[A-Fa-f0-9]{40,}\b"
    r"|\b[A-Za-z0-9+/_\-]{40,}={0,2}"
)
_NAMED = re.compile(
    r"(?i)\b(api[_-]?key|token|secret|password|authorization)(\s*[=:]\s*)([^\s,;'\"]+)"
)
_PATH = re.compile(
    r"(?<![\w.:/~-])~/[^\s'\"<>|]+"  # ~/keys/a
    r"|(?<![\w.:/~-])/(?:home|root|srv|opt|etc|var|usr|tmp|data|app|work|mnt|private|Users|proc)"
    r"/[^\s'\"<>|,;)]*"  # /srv/cadre/...
    r"|(?<![\w.:/~-])/(?:[\w.@+\-]+/)+[\w@+\-]+\.\w{1,5}\b"  # /any/where/file.ext
    r"|\b[A-Za-z]:\\[^\s'\"<>|]+"  # C:\Users\x
)
HIDDEN = "[hidden]"


def register_secret(value: str | None) -> None:
    """Remember a configured key so its literal value never appears in an error shown."""
    if value and len(value) >= 6:
        _SECRETS.add(value)


def scrub_error(text: str) -> str:
    """`text` without keys, absolute paths or traceback text."""
    text = _TRACEBACK.sub("", text)
    text = _FRAME.sub("", text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    text = _KEYS.sub(HIDDEN, text)
    text = _NAMED.sub(lambda m: f"{m[1]}{m[2]}{HIDDEN}", text)
    text = _PATH.sub("[path]", text)
    return text.strip() or "An internal error occurred."
