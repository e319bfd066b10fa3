"""The page the browser loads: fully offline, and under a strict Content-Security-Policy.

Chainlit's page template preconnects to a font host and loads KaTeX's stylesheet from a CDN.
Cadre ships system fonts and has LaTeX off, so those tags only leak requests (and stall the
page on a machine with no internet); this middleware removes them.

It also sets the page's Content-Security-Policy, so text that reaches the page — a model's
answer, a document's passage, a pasted message — can never make the browser fetch from
another host: images only from Cadre itself (or data:/blob: URLs), scripts only Cadre's own
files and the inline scripts Chainlit's template carries (allowed by their hashes, not by
'unsafe-inline'), no plugins, no foreign frames, forms or base URLs.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_EXTERNAL_LINK = re.compile(rb"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.IGNORECASE)


_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.IGNORECASE | re.S)


def strip_external_links(html: bytes) -> bytes:
    """Remove every `<link>` element that points at another host."""
    return _EXTERNAL_LINK.sub(b"", html)


def page_policy(html: bytes) -> str:
    """The Content-Security-Policy for `html`: strict, with its inline scripts' hashes."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' {hashes}".strip(),
        "style-src": "'self' 'unsafe-inline'",  # React and Chainlit set style attributes
        "img-src": "'self' data: blob:",
        "media-src": "'self' data: blob:",
        "font-src": "'self' data:",
        "connect-src": "'self'",
        "worker-src": "'self' blob:",  # the PDF viewer's worker
        "frame-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'self'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class PageMiddleware:
    """Rewrites HTML responses: no third-party links, and the page's security policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message["headers"])
                if not headers.get("content-type", "").startswith("text/html"):
                    await send(message)
                    return
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    headers = MutableHeaders(raw=start["headers"])
                    # Chainlit gzips its responses; the page is small, so unpack and repack.
                    zipped = headers.get("content-encoding") == "gzip"
                    page = strip_external_links(gzip.decompress(body) if zipped else bytes(body))
                    policy = page_policy(page)
                    if zipped:
                        page = gzip.compress(page)
                    headers["content-length"] = str(len(page))
                    headers["content-security-policy"] = policy
                    headers["x-content-type-options"] = "nosniff"
                    headers["referrer-policy"] = "no-referrer"
                    await send(start)
                    await send({"type": "http.response.body", "body": page})
            else:
                await send(message)

        await self.app(scope, receive, capture)
