"""Citations: each passage an answer used becomes a numbered source the person can open.

A PDF passage opens the original file at its page; any other passage opens its text under
the document's name and section title. The elements are named `[1]`, `[2]`… so the markers
the model writes in its answer link to them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import chainlit as cl
from chainlit.element import Element

from app.chat.markdown import literal, shown_markdown
from app.originals import find_original
from knowledge.documents import Passage

_MARKER = re.compile(r"\[(\d{1,3})\]")
_CITATION = re.compile(r" ?(?<![\w\])])\[(\d{1,3})\]")
"""A `[n]` marker with the space before it; not an index (`items[3]`) or a link's text."""


def cited_numbers(answer: str) -> set[int]:
    """The `[n]` markers an answer uses."""
    return {int(n) for n in _MARKER.findall(answer)}


def without_unknown_markers(answer: str, shown: int) -> str:
    """`answer` without `[n]` markers that name no passage of this turn (1..`shown`).

    Operators that were shown no passages still imitate the citation style sometimes
    ("441 [3]"); a marker the Sources line cannot explain must not reach the person. Code is
    left alone: `items[3]` is an index, not a citation.
    """
    if "`" in answer:
        return answer
    return _CITATION.sub(lambda m: m.group() if 1 <= int(m.group(1)) <= shown else "", answer)


def _label(passage: Passage) -> str:
    # "contract.pdf, page 2, scanned — Terms"; an e-mail adds its sender and date. Names and
    # titles come from the files: shown as text, never as links, images or HTML.
    return literal(passage.label())


def unique_passages(passages: Sequence[Passage]) -> list[Passage]:
    """Passages in the order the turn numbered them (first retrieved first), each chunk once."""
    seen: set[tuple[str, int]] = set()
    kept: list[Passage] = []
    for passage in passages:
        key = (passage.document_id, passage.chunk_index)
        if key not in seen:
            seen.add(key)
            kept.append(passage)
    return kept


def citation_elements(
    passages: Sequence[Passage], originals_dir: Path, owner: str, cited: set[int]
) -> tuple[list[Element], str]:
    """Side elements for the passages the answer cites, and the "Sources:" line naming them.

    Only cited passages are listed: a source the answer does not rely on is noise.
    """
    elements: list[Element] = []
    labels: list[str] = []
    for number, passage in enumerate(unique_passages(passages), start=1):
        if number not in cited:
            continue
        name = f"[{number}]"
        original = find_original(originals_dir, owner, passage.document_id)
        if original is not None and original.suffix == ".pdf" and passage.page:
            element: Element = cl.Pdf(
                name=name, path=str(original), page=passage.page, display="side"
            )
        else:
            # Numbered in its text too: Chainlit opens every cited passage of the conversation
            # in one side panel after each answer, titled with the newest name only.
            element = cl.Text(
                name=name,
                content=f"**{name} {_label(passage)}**\n\n{shown_markdown(passage.text)}",
                display="side",
            )
        elements.append(element)
        labels.append(f"{name} {_label(passage)}")
    line = "**Sources:** " + " · ".join(labels) if labels else ""
    return elements, line
