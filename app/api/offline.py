"""Keep the UI fully offline: strip links to web fonts and CDNs from Chainlit's HTML page.

Chainlit's page template preconnects to a font host and loads KaTeX's stylesheet from a CDN.
Cadre ships system fonts and has LaTeX off, so those tags only leak requests (and stall the
page on a machine with no internet); this middleware removes them.
"""

from __future__ import annotations

import gzip
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_EXTERNAL_LINK = re.compile(rb"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.IGNORECASE)


def strip_external_links(html: bytes) -> bytes:
    """Remove every `<link>` element that points at another host."""
    return _EXTERNAL_LINK.sub(b"", html)


class OfflinePageMiddleware:
    """Rewrites HTML responses so the browser never contacts third-party hosts."""

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
                    if zipped:
                        page = gzip.compress(page)
                    headers["content-length"] = str(len(page))
                    await send(start)
                    await send({"type": "http.response.body", "body": page})
            else:
                await send(message)

        await self.app(scope, receive, capture)
