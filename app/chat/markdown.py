"""Markdown the server sends never makes the browser fetch from another host.

`literal` is for names that come from files (a file name, an e-mail attachment's name, a
section title): they are shown as the text they are, never as a link, image or HTML.

A model's answer or a document's passage can hold `![x](https://host/x.png?q=secret)`; shown
as markdown, that is a request the page makes by itself, with whatever the URL carries. The
page's Content-Security-Policy blocks such loads (app/api/page.py); this removes them from
the text as well, keeping the image's description so nothing the person should read is lost.

Chainlit's renderer also reads remark-directive syntax: in "55:text/x-diff:*.patch" (a line
of the shared-mime-info spec a model quoted) `:text` is a directive, and the page showed
"55/x-diff". `shown_markdown` escapes such colons, outside code, so every character stays visible.
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
# A colon that would open a directive (`:name`, `::name`, `:::name`): any unescaped one
# before a letter or before more colons and a letter (escaping only the first of "::name"
# leaves ":name" after it).
_DIRECTIVE = re.compile(r"(?<!\\):(?=:*[A-Za-z])")
_ESCAPED_DIRECTIVE = re.compile(r"\\:(?=(?:\\:)*[A-Za-z])")
# Code, where an escape would show as a backslash: fenced blocks and inline spans.
_CODE = re.compile(r"(```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`)", re.DOTALL)


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
    escaped = _MARKUP.sub(r"\\\1", " ".join(text.splitlines()))
    return _DIRECTIVE.sub(r"\\:", escaped)  # no code is left to skip


def without_directives(text: str) -> str:
    """`text` with every colon that would start a directive escaped, code left as it is."""
    parts = _CODE.split(text)
    # `split` with one group alternates text and code: the even parts are outside code.
    return "".join(
        _DIRECTIVE.sub(r"\\:", part) if index % 2 == 0 else part for index, part in enumerate(parts)
    )


def shown_markdown(text: str) -> str:
    """A model's or a document's text as markdown the chat shows safely and completely."""
    return without_directives(without_remote_images(text))


def as_written(text: str) -> str:
    """A stored answer as the model wrote it, for its prompt when the chat is resumed: the
    colons `shown_markdown` escaped, unescaped (its removed images stay described)."""
    return _ESCAPED_DIRECTIVE.sub(":", text)
