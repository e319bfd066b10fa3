"""Structure-aware chunking: sections stay apart, chunks are sized in embedder tokens.

Each section (one page's text under one heading) is cut into units no larger than a chunk:
sentences, or words and then characters when a sentence alone is too long. Units are packed
greedily; when the next one does not fit, the chunk ends at the strongest boundary in its
second half (paragraph, then line, then sentence, then word), and the next chunk starts with
up to `overlap_tokens` of the previous one's last whole sentences or words.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from knowledge.documents import HIDDEN_CHARACTERS, TABLE_ROWS, Chunk, ParsedDocument

TokenCounter = Callable[[str], int]
"""Tokens in a text by the embedder's tokenizer, e.g. `Embedder.count_tokens`."""


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    """How big chunks are and how much consecutive chunks share."""

    max_tokens: int = 254
    """Most tokens in a chunk. 254 fills all-MiniLM-L6-v2's 256-token window, which also
    holds the [CLS] and [SEP] markers."""
    overlap_tokens: int = 32
    """Tokens of the previous chunk's end repeated at the start of the next (whole units)."""
    min_fill: float = 0.5
    """A chunk ends early at a stronger boundary only once it holds this share of
    `max_tokens`; below that it runs on to the weaker boundary."""

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError("ChunkingOptions.max_tokens must be at least 1")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ValueError("ChunkingOptions.overlap_tokens must be in [0, max_tokens)")
        if not 0 <= self.min_fill <= 1:
            raise ValueError("ChunkingOptions.min_fill must be in [0, 1]")


# Boundary strengths, and the separator used across each when the source had whitespace.
_CHAR, _WORD, _SENTENCE, _LINE, _PARAGRAPH = range(5)
_JOINERS = ("", " ", " ", "\n", "\n\n")

_PARAGRAPHS = re.compile(r"\n[ \t]*\n\s*")
# The separator is captured: after CJK full stops it is empty, and must stay empty.
_SENTENCE_END = re.compile(r"((?<=[.!?…])\s+(?=\S)|(?<=[。！？]))")
# A WordPiece tokenizer reads a 100-character "word" (a hash, base64) as one [UNK] token;
# counting at least one token per this many characters keeps such runs from making
# chunks of unbounded length.
_MAX_CHARS_PER_TOKEN = 16


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    tokens: int
    boundary: int
    """Strength of the boundary before this unit."""
    joiner: str
    """What separates it from the unit before it."""


def _cost(text: str, count: TokenCounter) -> int:
    return max(count(text), -(-len(text) // _MAX_CHARS_PER_TOKEN))


def _split_long_word(word: str, count: TokenCounter, limit: int) -> Iterator[str]:
    """Cut a run without spaces into pieces of at most `limit` tokens each."""
    rest = word
    while rest:
        if _cost(rest, count) <= limit:
            yield rest
            return
        low, high = 1, min(len(rest), limit * _MAX_CHARS_PER_TOKEN)
        while low < high:  # longest prefix that fits
            middle = (low + high + 1) // 2
            if _cost(rest[:middle], count) <= limit:
                low = middle
            else:
                high = middle - 1
        yield rest[:low]
        rest = rest[low:]


def _sentences(line: str) -> Iterator[tuple[str, str]]:
    """(separator before, sentence) pairs of one line."""
    parts = _SENTENCE_END.split(line)
    separator = ""
    for index, part in enumerate(parts):
        if index % 2:
            separator = " " if part else ""
        elif part.strip():
            yield separator, part


def _units(text: str, count: TokenCounter, limit: int) -> Iterator[_Unit]:
    """The text as units of at most `limit` tokens, each knowing the boundary before it."""
    for paragraph in _PARAGRAPHS.split(text):
        boundary = _PARAGRAPH
        for line in paragraph.split("\n"):
            line = line.rstrip()
            if not line.strip():
                continue
            for separator, sentence in _sentences(line):
                joiner = _JOINERS[boundary] if boundary != _SENTENCE else separator
                tokens = _cost(sentence, count)
                if tokens <= limit:
                    yield _Unit(sentence, tokens, boundary, joiner)
                    boundary = _SENTENCE
                    continue
                for word in sentence.split():
                    tokens = _cost(word, count)
                    if tokens <= limit:
                        yield _Unit(word, tokens, boundary, joiner)
                    else:
                        for piece in _split_long_word(word, count, limit):
                            yield _Unit(piece, _cost(piece, count), boundary, joiner)
                            boundary, joiner = _CHAR, ""
                    boundary, joiner = _WORD, " "
                boundary = _SENTENCE
            boundary = _LINE


def _join(units: list[_Unit]) -> str:
    parts = [units[0].text] if units else []
    parts.extend(unit.joiner + unit.text for unit in units[1:])
    return "".join(parts)


def _cut(units: list[_Unit], fresh_from: int, incoming: _Unit, options: ChunkingOptions) -> int:
    """Where to end the chunk in `units` so that what follows the cut fits with `incoming`."""
    limit = options.max_tokens
    prefix = [0]
    for unit in units:
        prefix.append(prefix[-1] + unit.tokens)
    best, best_strength = len(units), incoming.boundary
    for position in range(len(units) - 1, fresh_from, -1):
        carried = prefix[-1] - prefix[position]
        if carried + incoming.tokens > limit:
            break  # earlier cuts carry even more
        if prefix[position] < options.min_fill * limit:
            break
        if units[position].boundary > best_strength:
            best, best_strength = position, units[position].boundary
    return best


def _overlap(emitted: list[_Unit], budget: int, count: TokenCounter) -> list[_Unit]:
    """The end of `emitted` in at most `budget` tokens: whole units, else the last words."""
    taken: list[_Unit] = []
    used = 0
    for unit in reversed(emitted):
        if used + unit.tokens > budget:
            break
        taken.append(unit)
        used += unit.tokens
    if not taken and emitted and budget > 0:
        # The last sentence alone is longer than the overlap: repeat its final words.
        for word in reversed(emitted[-1].text.split()):
            tokens = _cost(word, count)
            if used + tokens > budget:
                break
            taken.append(_Unit(word, tokens, _WORD, " "))
            used += tokens
    taken.reverse()
    return taken


# Zero-width non-joiner and joiner stay: Persian, Indic scripts and emoji sequences need them.
_KEPT_FORMAT = frozenset("\u200c\u200d")


@functools.cache
def _hidden_pattern() -> re.Pattern[str]:
    """Every format character (Unicode category Cf) but the joiners, built once."""
    hidden = (
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) == "Cf" and chr(code) not in _KEPT_FORMAT
    )
    return re.compile("[" + "".join(re.escape(ch) for ch in hidden) + "]")


def strip_hidden(text: str) -> tuple[str, int]:
    """`text` without invisible format characters, and how many were removed.

    Bidi overrides and isolates reorder what a reader sees, tag characters spell ASCII no
    one sees, zero-width spaces and the like split or hide words: all render as nothing
    but reach the model.
    """
    if text.isascii():
        return text, 0
    cleaned, removed = _hidden_pattern().subn("", text)
    return cleaned, removed


def visible_name(name: str) -> tuple[str, int]:
    """A file name without invisible format or control characters, and how many were removed.

    A name reaches the model in every citation: a bidi override there makes `exe.pdf` read
    as `fdp.exe`, tag characters spell instructions, a line break starts a new line of the
    prompt. Like `strip_hidden`, but control characters (line breaks, escapes) go too.
    """
    visible, hidden = strip_hidden(name)
    kept = "".join(ch for ch in visible if unicodedata.category(ch) != "Cc")
    return kept, hidden + len(visible) - len(kept)


def chunk_text(
    text: str, count_tokens: TokenCounter, options: ChunkingOptions | None = None
) -> list[str]:
    """Cut one section's text into chunks of at most `options.max_tokens` tokens."""
    options = options or ChunkingOptions()
    limit = options.max_tokens
    chunks: list[str] = []
    current: list[_Unit] = []
    fresh_from = 0  # units before this index repeat the previous chunk (overlap)
    total = 0
    for unit in _units(text, count_tokens, limit):
        if current and total + unit.tokens > limit:
            position = _cut(current, fresh_from, unit, options)
            emitted, carried = current[:position], current[position:]
            chunks.append(_join(emitted))
            room = limit - unit.tokens - sum(u.tokens for u in carried)
            overlap = _overlap(emitted, min(options.overlap_tokens, room), count_tokens)
            # A later chunk must bring something new: never cut inside the repeated part.
            current, fresh_from = overlap + carried, len(overlap)
            total = sum(u.tokens for u in current)
        current.append(unit)
        total += unit.tokens
    if len(current) > fresh_from:
        chunks.append(_join(current))
    return chunks


# "33", "- 5 -", "Page 12", "7 / 40": a page's printed number that ended up a chunk alone (a
# footer after the page's last full chunk, an index page's number). It says nothing a person
# could ask about, yet its vector sits close to any short question with numbers in it ("What
# is 17 times 23?" matched a manual's "33" at 0.43 and sent arithmetic to the documents).
_PAGE_NUMBER_ONLY = re.compile(r"\W*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\W*", re.I)


def chunk_document(
    document: ParsedDocument,
    count_tokens: TokenCounter,
    options: ChunkingOptions | None = None,
) -> list[Chunk]:
    """Chunks of every section in order; a chunk never spans two sections or pages, none
    is a page number alone, and table rows are not repeated across chunks.

    Args:
        document: The parsed document.
        count_tokens: The embedder's token counter (`embedder.count_tokens`), so that
            chunk sizes match what the model reads.
        options: Sizes; defaults to `ChunkingOptions()` (254 tokens, 32 overlap).
    """
    options = options or ChunkingOptions()
    rows_options = replace(options, overlap_tokens=0)
    chunks: list[Chunk] = []
    for section in document.sections:
        # Invisible characters are removed and counted, so the citation can say so.
        visible, hidden = strip_hidden(section.text)
        meta = {**section.meta, HIDDEN_CHARACTERS: str(hidden)} if hidden else section.meta
        rows = section.meta.get(TABLE_ROWS) == "1"
        for text in chunk_text(visible, count_tokens, rows_options if rows else options):
            if _PAGE_NUMBER_ONLY.fullmatch(text):
                continue
            chunks.append(
                Chunk(
                    text=text,
                    index=len(chunks),
                    page=section.page,
                    section=section.title,
                    token_count=count_tokens(text),
                    meta=meta,
                )
            )
    return chunks


def bundled_token_counter() -> TokenCounter:
    """Word-piece counts of the bundled all-MiniLM-L6-v2 tokenizer, without loading the model.

    The same numbers as `SentenceTransformerEmbedder.count_tokens`, from the `tokenizers`
    library alone (no torch), for chunking where the model is not loaded.
    """
    from tokenizers import Tokenizer

    from knowledge.embedder import bundled_embedder_path

    tokenizer = Tokenizer.from_file(str(bundled_embedder_path() / "tokenizer.json"))
    # The shipped tokenizer truncates and pads to 128 for the model; counting needs neither.
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count_tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count_tokens
