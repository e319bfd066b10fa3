"""The Researcher's fixed policy: which knowledge tool a request needs, which document it names.

Models that cannot call tools (the bundled SmolLM2) get their tool calls from the request
alone. A question is a search; a request for a whole-document summary or an exhaustive list
("list every deadline in the contract") must read the whole document instead, because the
top few search hits would silently miss the rest; "which files do I have?" is a listing.
Which document to read is decided when the tool runs, against the user's documents
(`pick_document`): the one the request names, or the only one there is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol, TypeVar

KnowledgeToolName = Literal["search_documents", "read_document", "list_documents"]

_SUMMARY = re.compile(
    r"\b(summar(y|ies|i[sz]e[sd]?|i[sz]ing)|overview|outline|tl;?dr|gist|recap"
    r"|key (points|takeaways|findings)|main (points|ideas|findings))\b",
    re.IGNORECASE,
)
_WHOLE = re.compile(r"\b(whole|entire|in full|from start to finish|cover to cover)\b", re.I)
_EVERY = re.compile(r"\bevery\b", re.IGNORECASE)
_LIST_VERB = re.compile(r"\b(list|extract|enumerate|collect|gather|itemi[sz]e)\b", re.I)
_ALL = re.compile(r"\b(all|each)\b", re.IGNORECASE)

_MY_FILES = r"(my|the|our|your)\s+(uploaded\s+)?(documents|docs|files|uploads|pdfs)"
_LISTING = (
    re.compile(
        rf"^\W*(please\s+)?(list|show|what\s+are|which\s+are|name)(\s+me)?(\s+all)?(\s+of)?"
        rf"\s+{_MY_FILES}\W*$",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(what|which)\s+(documents|docs|files|pdfs)\s+(do\s+(i|we)\s+have|have\s+(i|we)"
        r"\s+(uploaded|got|shared)|are\s+(there|uploaded|available)|did\s+(i|we)\s+upload)",
        re.IGNORECASE,
    ),
    re.compile(r"\bhow\s+many\s+(documents|docs|files)\b", re.IGNORECASE),
)

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# Words a file name shares with requests too often to say which file is meant.
_GENERIC = frozenset(
    {
        *("the", "and", "for", "with", "from", "final", "draft", "copy", "new", "version"),
        *("file", "document", "scan", "pdf", "docx", "doc", "txt", "csv", "md", "html"),
        *("htm", "xlsx", "json"),
    }
)


class NamedDocument(Protocol):
    """Anything with a document id and a file name (stored documents, catalog records)."""

    @property
    def document_id(self) -> str:
        """The document's id."""
        ...

    @property
    def name(self) -> str:
        """The document's file name."""
        ...


D = TypeVar("D", bound=NamedDocument)


def wants_whole_document(request: str) -> bool:
    """True for summaries of a whole document and lists of every X across it."""
    if _SUMMARY.search(request) or _WHOLE.search(request) or _EVERY.search(request):
        return True
    return bool(_LIST_VERB.search(request) and _ALL.search(request))


def wants_document_list(request: str) -> bool:
    """True when the user asks which documents they have."""
    text = request.strip()
    return any(pattern.search(text) for pattern in _LISTING)


def choose_tool(request: str) -> KnowledgeToolName:
    """The one knowledge tool the fixed policy calls for `request`."""
    if wants_document_list(request):
        return "list_documents"
    if wants_whole_document(request):
        return "read_document"
    return "search_documents"


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in _TOKEN.findall(text)}


def _name_words(name: str) -> set[str]:
    # Split camelCase too: "SupplierContract2024.pdf" names a "contract".
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", name)
    return {w for w in _words(spaced) if len(w) > 2 and w not in _GENERIC}


def _stem_of(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name.strip(".") else name


def pick_document(reference: str, documents: Sequence[D], *, only_one: bool = True) -> D | None:
    """The document `reference` means: its id, its name, or a request that names it.

    Tried in order: the exact id (or a unique id prefix of 8+ characters), the exact file
    name or name without extension (any case), a file name quoted in a sentence, then the
    document whose name shares the most distinctive words with the reference ("every
    deadline in the contract" → `Supplier_Contract.pdf`). With only one document, that one
    is meant whenever nothing else matched (unless `only_one` is false). Returns `None` when
    it stays ambiguous.
    """
    text = reference.strip()
    if not documents:
        return None
    folded = text.casefold()
    for doc in documents:
        if text and (doc.document_id == text or doc.name.casefold() == folded):
            return doc
    if len(text) >= 8:
        by_prefix = [d for d in documents if d.document_id.startswith(text.lower())]
        if len(by_prefix) == 1:
            return by_prefix[0]
    stems = [d for d in documents if _stem_of(d.name).casefold() == folded]
    if text and len(stems) == 1:
        return stems[0]
    mentioned = [d for d in documents if d.name.casefold() in folded]
    if len(mentioned) == 1:
        return mentioned[0]
    if mentioned:
        # "contract.pdf" and "old contract.pdf" both appear: the longest name is the one meant.
        mentioned.sort(key=lambda d: len(d.name), reverse=True)
        if len(mentioned[0].name) > len(mentioned[1].name):
            return mentioned[0]
    wanted = _words(text)
    scores = [(len(_name_words(d.name) & wanted), d) for d in documents]
    best = max(score for score, _ in scores)
    leaders = [d for score, d in scores if score == best]
    if best > 0 and len(leaders) == 1:
        return leaders[0]
    return documents[0] if only_one and len(documents) == 1 else None
