"""A `[n]` marker reaches the person only when this turn's Sources line can explain it."""

from __future__ import annotations

import pytest

from app.chat.citations import without_unknown_markers


def test_a_marker_with_no_passage_behind_it_is_removed() -> None:
    # The Analyst saw no passages but imitated the citation style.
    assert without_unknown_markers("18% of 2,450 is 441 [3].", shown=0) == "18% of 2,450 is 441."


def test_markers_of_shown_passages_stay_and_the_others_go() -> None:
    answer = "It opens on 14 March 2027 [1][2] with 65 staff [4]."
    assert (
        without_unknown_markers(answer, shown=2)
        == "It opens on 14 March 2027 [1][2] with 65 staff."
    )


@pytest.mark.parametrize(
    "answer",
    ["Take items[3] from the list.", "Run `rows[7]` to see it [9].", "See [the guide][2] above."],
    ids=["an index", "code", "a reference link"],
)
def test_code_and_indexes_are_not_citations(answer: str) -> None:
    assert without_unknown_markers(answer, shown=0) == answer
