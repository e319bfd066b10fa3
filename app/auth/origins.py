"""Which web origins may talk to Cadre from a browser: its own, plus `CADRE_ALLOWED_ORIGINS`.

Chainlit allows any origin by default (`allow_origins=["*"]` with credentials) and its
socket.io server checks no Origin at all. Cadre applies one rule everywhere: Chainlit's CORS
middleware gets the configured list, the socket.io handshake refuses other origins, and
state-changing HTTP requests (POST, PUT, PATCH, DELETE) from other origins get 403.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case, or None if `origin` is not an http(s) origin."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class SiteOrigins:
    """The origins of the widget's registered sites, as this process last read them.

    Checks that cannot wait for the database (CORS, the socket.io handshake) read this set;
    the widget's token route refreshes it (at most every `max_age_s`) and adds the origin of
    each site it serves, so a site registered a moment ago works at once, and a removed one
    is dropped at the next refresh.
    """

    def __init__(self, max_age_s: float = 10.0) -> None:
        self._origins: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self.max_age_s = max_age_s

    def __contains__(self, origin: object) -> bool:
        return isinstance(origin, str) and normalize_origin(origin) in self._origins

    def stale(self) -> bool:
        """Whether the set is older than `max_age_s`."""
        return time.monotonic() - self._read_at > self.max_age_s

    def replace(self, origins: Iterable[str]) -> None:
        """The registered origins, as just read from the database."""
        self._origins = frozenset(o for o in (normalize_origin(x) for x in origins) if o)
        self._read_at = time.monotonic()

    def add(self, origin: str) -> None:
        """One more registered origin (just found in the database)."""
        if normalized := normalize_origin(origin):
            self._origins = self._origins | {normalized}


@dataclass(frozen=True)
class OriginPolicy:
    """Same-origin requests, and requests from the listed origins, are allowed."""

    allowed: frozenset[str]
    sites: SiteOrigins = field(default_factory=SiteOrigins, compare=False)
    """The widget's registered sites: allowed like the configured origins."""

    @classmethod
    def of(cls, origins: Iterable[str], public_url: str | None = None) -> OriginPolicy:
        """The policy for configured `origins` (and the public URL's origin, if set)."""
        listed = [*origins, *([public_url] if public_url else [])]
        normalized = {normalize_origin(origin) for origin in listed}
        return cls(frozenset(origin for origin in normalized if origin))

    def allows(self, origin: str | None, hosts: Iterable[str | None]) -> bool:
        """Whether a request carrying `origin`, sent to one of `hosts`, may proceed.

        No Origin header means no browser cross-site request (browsers always send one
        for cross-origin requests and WebSocket handshakes), so it is allowed.
        """
        if origin is None:
            return True
        normalized = normalize_origin(origin)
        if normalized is None:  # "null" (sandboxed frames, file://) and anything malformed
            return False
        if normalized in self.allowed or normalized in self.sites:
            return True
        netloc = urlsplit(normalized).netloc
        return any(host and netloc == host.strip().lower() for host in hosts)

    def allows_environ(self, origin: str | None, environ: Mapping[str, str]) -> bool:
        """`allows` for a socket.io handshake's WSGI-style environ.

        Only `Host` counts: `X-Forwarded-Host` is whatever the client (or a proxy passing
        it through) wrote. Behind a proxy, `CADRE_PUBLIC_URL` names the public origin.
        """
        return self.allows(origin, (environ.get("HTTP_HOST"),))


class OriginCheckMiddleware:
    """Answers 403 to state-changing HTTP requests sent from an origin the policy refuses."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if not self.policy.allows(origin, (headers.get("host"),)):
                log.warning("refused %s %s from origin %r", scope["method"], scope["path"], origin)
                response = JSONResponse({"detail": "cross-origin request refused"}, 403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def restrict_chainlit_cors(policy: OriginPolicy) -> None:
    """Give Chainlit's own CORS middleware the configured origins instead of `["*"]`."""
    from chainlit.config import config
    from chainlit.server import app as chainlit_app
    from starlette.middleware.cors import CORSMiddleware

    origins = sorted(policy.allowed)
    config.project.allow_origins = origins
    found = False
    for middleware in chainlit_app.user_middleware:
        if getattr(middleware.cls, "__name__", "") == CORSMiddleware.__name__:
            middleware.kwargs["allow_origins"] = _PolicyOrigins(policy)
            found = True
    if not found:
        raise RuntimeError("Chainlit's CORS middleware was not found; re-check after upgrading")


class _PolicyOrigins(Collection[str]):
    """The configured origins plus the widget's sites, as CORS middleware reads a list."""

    def __init__(self, policy: OriginPolicy) -> None:
        self._policy = policy

    def __contains__(self, origin: object) -> bool:
        if not isinstance(origin, str) or origin == "*":
            return False
        normalized = normalize_origin(origin)
        return normalized is not None and (
            normalized in self._policy.allowed or normalized in self._policy.sites
        )

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._policy.allowed))

    def __len__(self) -> int:
        return len(self._policy.allowed)
