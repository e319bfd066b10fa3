"""Chunks stay inside their section and page, fit the tokenizer, overlap, and cut cleanly."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from knowledge.chunking import (
    ChunkingOptions,
    TokenCounter,
    bundled_token_counter,
    chunk_document,
    chunk_text,
)
from knowledge.documents import ParsedDocument, Section
from knowledge.embedder import HashEmbedder
from knowledge.parsing import parse_file
from tests.knowledge.doc_files import make_pdf

words = HashEmbedder().count_tokens


@pytest.fixture(scope="module")
def wordpieces() -> TokenCounter:
    return bundled_token_counter()


def _sentences(paragraph: int, count: int) -> str:
    return " ".join(
        f"Paragraph {paragraph} sentence {s} talks about topic {paragraph * 100 + s}."
        for s in range(count)
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_chunks_never_span_sections_or_pages() -> None:
    document = ParsedDocument(
        name="doc.pdf",
        kind="pdf",
        sections=(
            Section(text=_sentences(1, 30), page=1, title="Intro"),
            Section(text="A short closing line.", page=1, title="Outro"),
            Section(text=_sentences(2, 30), page=2, title="Outro"),
        ),
        page_count=2,
    )
    chunks = chunk_document(document, words, ChunkingOptions(max_tokens=60, overlap_tokens=10))

    assert [c.index for c in chunks] == list(range(len(chunks)))
    by_place = {(s.page, s.title): _flat(s.text) for s in document.sections}
    for chunk in chunks:
        assert _flat(chunk.text) in by_place[(chunk.page, chunk.section)]
        assert chunk.token_count == words(chunk.text) <= 60
    assert ("A short closing line.", 1, "Outro") in [(c.text, c.page, c.section) for c in chunks]
    assert {c.page for c in chunks if "Paragraph 2" in c.text} == {2}


def test_chunks_fit_the_real_tokenizer_and_cover_every_sentence(wordpieces: TokenCounter) -> None:
    text = "\n\n".join(_sentences(p, 12) for p in range(20))
    options = ChunkingOptions()  # 254 tokens, 32 overlap
    chunks = chunk_text(text, wordpieces, options)

    assert len(chunks) > 5
    assert all(wordpieces(chunk) <= options.max_tokens for chunk in chunks)
    joined = " ".join(_flat(c) for c in chunks)
    for sentence in re.findall(r"Paragraph \d+ sentence \d+ talks about topic \d+\.", text):
        assert sentence in joined


def test_consecutive_chunks_overlap(wordpieces: TokenCounter) -> None:
    text = _sentences(7, 60)
    chunks = chunk_text(text, wordpieces, ChunkingOptions(max_tokens=100, overlap_tokens=30))
    for before, after in itertools.pairwise(chunks):
        first_sentence = after.split(". ")[0] + "."
        assert first_sentence in before  # the next chunk restarts on a sentence already seen
        assert wordpieces(first_sentence) <= 30


def test_without_overlap_nothing_repeats() -> None:
    text = _sentences(3, 40)
    chunks = chunk_text(text, words, ChunkingOptions(max_tokens=50, overlap_tokens=0))
    assert _flat(" ".join(chunks)) == _flat(text)


def test_chunks_end_at_paragraph_breaks_when_they_can() -> None:
    paragraphs = [_sentences(p, 4) for p in range(6)]  # ~40 words each
    chunks = chunk_text("\n\n".join(paragraphs), words, ChunkingOptions(90, overlap_tokens=0))
    assert chunks == ["\n\n".join(paragraphs[i : i + 2]) for i in range(0, 6, 2)]


def test_chunks_end_at_sentence_ends_rather_than_mid_sentence() -> None:
    text = _sentences(4, 30)
    for chunk in chunk_text(text, words, ChunkingOptions(max_tokens=45, overlap_tokens=0)):
        assert chunk.startswith("Paragraph 4 sentence")
        assert chunk.endswith(".")


def test_text_without_spaces_is_cut_by_tokens(wordpieces: TokenCounter) -> None:
    blob = "QmFzZTY0IGRhdGEgd2l0aG91dCBhbnkgc3BhY2Vz" * 80
    chunks = chunk_text(blob, wordpieces, ChunkingOptions(max_tokens=64, overlap_tokens=8))
    assert len(chunks) > 1
    assert all(wordpieces(c) <= 64 for c in chunks)
    assert "".join(chunks) == blob


def test_cjk_sentences_split_without_spaces() -> None:
    text = "これは最初の文です。" * 40
    chunks = chunk_text(text, len, ChunkingOptions(max_tokens=50, overlap_tokens=0))
    assert all(len(c) <= 50 for c in chunks)
    assert all(c.endswith("。") for c in chunks)


def test_pdf_pages_flow_into_chunks_with_their_page_numbers(
    tmp_path: Path, wordpieces: TokenCounter
) -> None:
    pages = [(f"Part {n}", f"Facts about part {n}. " * 60) for n in range(1, 4)]
    document = parse_file(make_pdf(tmp_path / "parts.pdf", pages))
    chunks = chunk_document(document, wordpieces, ChunkingOptions(max_tokens=128))
    assert {c.page for c in chunks} == {1, 2, 3}
    for chunk in chunks:
        assert chunk.section == f"Part {chunk.page}"
        assert f"part {chunk.page}" in chunk.text
        assert chunk.token_count <= 128


def test_empty_sections_make_no_chunks() -> None:
    document = ParsedDocument(name="x", kind="text", sections=(Section(text="  \n\n "),))
    assert chunk_document(document, words) == []


def test_a_page_number_left_alone_makes_no_chunk() -> None:
    # What a PDF page's footer or an index page's number becomes when the chunk before it
    # is full, or when the parser reads it as a section of its own.
    alone = ["33", "- 5 -", "Page 12", "7 / 40", "12"]
    kept = ["Chapter 12", "iv.", "Paragraph 1 sentence 0 talks about topic 100."]
    document = ParsedDocument(
        name="manual.pdf",
        kind="pdf",
        sections=tuple(Section(text=t, page=n) for n, t in enumerate(alone + kept, start=1)),
        page_count=len(alone + kept),
    )
    chunks = chunk_document(document, words)
    assert [c.text for c in chunks] == kept
    assert [c.index for c in chunks] == [0, 1, 2]


def test_bundled_counter_counts_wordpieces(wordpieces: TokenCounter) -> None:
    assert wordpieces("Hello world") == 2
    assert wordpieces("tokenization") == 2  # "token", "##ization"
    assert wordpieces("word " * 1000) == 1000  # no truncation at the model's window


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tokens": 0}, {"max_tokens": 10, "overlap_tokens": 10}, {"min_fill": 1.5}],
)
def test_bad_options_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="ChunkingOptions"):
        ChunkingOptions(**kwargs)  # type: ignore[arg-type]
