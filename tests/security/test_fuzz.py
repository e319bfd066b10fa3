"""Property-based fuzzing (hypothesis): hostile text and arguments end in our own clear
errors or a correct result, never another exception.

- The chunker takes any text (control characters, bidi and zero-width characters, CJK,
  surrogate-free Unicode of any kind, very long "words"): every chunk stays within its
  token limit, none is empty, and no visible character of the input is lost.
- Every built-in tool's argument validation takes any JSON a model could send: it returns
  the validated arguments or raises `ToolArgumentsError`, whose message names the tool.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.delegation import delegation_tools
from agents.errors import ToolArgumentsError
from agents.roster import OPERATORS, builtin_tools
from knowledge.chunking import ChunkingOptions, chunk_text

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # no time limit per example: the suite's timeout catches a hang, load never fails it

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A word-piece-like count: words and punctuation marks."""
    return len(_TOKEN.findall(text))


TRICKY = st.sampled_from(
    [
        "\u202e",  # right-to-left override
        "\u2066",  # left-to-right isolate
        "\u200b",  # zero-width space
        "\u200d",  # zero-width joiner
        "\ufeff",  # byte-order mark
        "\U000e0041",  # tag character (invisible ASCII smuggling)
        "\x00",
        "\r\n",
        "\n\n",
        "。",
        "…",
        "a" * 300,
        "ＡＢＣ",
    ]
)
TEXT = st.lists(st.one_of(st.text(min_size=0, max_size=60), TRICKY), min_size=0, max_size=40).map(
    "".join
)


@FUZZ
@given(
    text=TEXT,
    max_tokens=st.integers(min_value=1, max_value=48),
    overlap=st.integers(min_value=0, max_value=47),
)
def test_the_chunker_takes_any_text(text: str, max_tokens: int, overlap: int) -> None:
    options = ChunkingOptions(max_tokens=max_tokens, overlap_tokens=min(overlap, max_tokens - 1))
    chunks = chunk_text(text, count_tokens, options)
    for chunk in chunks:
        assert chunk.strip(), repr(chunks)
        assert count_tokens(chunk) <= max_tokens, (chunk, count_tokens(chunk))
    seen = set("".join(chunks))
    lost = {ch for ch in text if not ch.isspace() and ch not in seen}
    assert not lost, (lost, text, chunks)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
TOOLS = {t.name: t for t in [*builtin_tools(), *delegation_tools(OPERATORS)]}


@FUZZ
@given(
    name=st.sampled_from(sorted(TOOLS)),
    arguments=st.dictionaries(
        st.one_of(
            st.sampled_from(["expression", "query", "task", "document", "column"]), st.text()
        ),
        JSON,
        max_size=5,
    ),
)
def test_tool_arguments_are_validated_or_refused_clearly(
    name: str, arguments: dict[str, Any]
) -> None:
    tool = TOOLS[name]
    refusal: ToolArgumentsError | None = None
    try:
        validated = tool.validate(arguments)
    except ToolArgumentsError as exc:
        refusal = exc
    if refusal is not None:
        assert name in str(refusal)  # a sentence the model can act on
        return
    assert isinstance(validated, dict)
    assert set(validated) <= set(tool.parameters.get("properties", {}))
