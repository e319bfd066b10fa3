"""Grounding: citations attached and checked in code, unverifiable statements dropped."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agents.grounding import (
    Evidence,
    GroundedAnswer,
    Neighbour,
    facts,
    ground,
    named_in_rows,
    row_beside,
    rows_about,
)

LEASE = Evidence(
    1,
    "The lease between Acme Corporation and Maria Koster starts on 2025-04-01 and ends on "
    "14 March 2027. The monthly rent is EUR 1,200.50, due on the 3rd of each month.",
)
OFFICE = Evidence(
    2,
    "The office is in Tallinn, Estonia. Revenue grew 12% to $3.5 million in Q3 2026, "
    "and the team has 40 people.",
)
PASSAGES = [LEASE, OFFICE]
INSTRUCTIONS = (
    "Answer the question using only the numbered passages below. Cite each passage you "
    "use as [n]. If the passages do not contain the answer, say so."
)
QUESTION = "Search my documents: when does the lease with Maria Koster end?"


def test_a_supported_answer_without_markers_gets_its_passage_cited() -> None:
    grounded = ground("The lease ends on 14 March 2027.", PASSAGES)
    assert grounded.text == "The lease ends on 14 March 2027 [1]."
    assert grounded.cited == (1,)
    assert grounded.verified
    assert grounded.note is None


@pytest.mark.parametrize("answer", ["[1]", "[1][2].", " [2] ", "(see [1])"])
def test_an_answer_of_markers_alone_is_no_answer(answer: str) -> None:
    # Seen from the 1.5B on a question its passages did not answer: the whole reply "[1]".
    assert ground(answer, PASSAGES).text == ""


def test_an_unsupported_number_is_dropped_and_reported() -> None:
    grounded = ground("The lease ends on 14 March 2027. The deposit is 2023 EUR.", PASSAGES)
    assert grounded.text == "The lease ends on 14 March 2027 [1]."
    assert grounded.removed == ("The deposit is 2023 EUR.",)
    assert grounded.unsupported == ("2023 EUR",)
    assert not grounded.verified
    assert grounded.note == (
        "1 statement could not be verified against the documents and was removed."
    )
    assert grounded.report() == (
        "Checked 2 statements: 1 supported by [1]; 1 removed (unsupported: 2023 EUR)."
    )


def test_an_unsupported_name_is_dropped() -> None:
    grounded = ground("The office is in Tallinn. The landlord is Peter Brown.", PASSAGES)
    assert grounded.text == "The office is in Tallinn [2]."
    assert grounded.removed == ("The landlord is Peter Brown.",)
    assert grounded.unsupported == ("Peter Brown",)


def test_a_marker_for_a_passage_never_shown_is_replaced_by_the_right_one() -> None:
    grounded = ground("The team has 40 people [7].", PASSAGES)
    assert grounded.text == "The team has 40 people [2]."
    assert grounded.cited == (2,)


def test_a_wrong_marker_is_repointed_to_the_passage_that_holds_the_fact() -> None:
    grounded = ground("Revenue grew 12% [1].", PASSAGES)
    assert grounded.text == "Revenue grew 12% [2]."


def test_a_right_marker_is_kept_where_the_model_put_it_at_the_sentence_end() -> None:
    grounded = ground("[1] The rent is EUR 1,200.50 per month.", PASSAGES)
    assert grounded.text == "The rent is EUR 1,200.50 per month [1]."


def test_duplicate_and_other_marker_styles_collapse_to_one_style() -> None:
    grounded = ground("Revenue grew 12% [2][2]. The lease ends in March 2027【1】.", PASSAGES)
    assert grounded.text == "Revenue grew 12% [2]. The lease ends in March 2027 [1]."


def test_a_parenthesised_number_is_not_a_marker_but_a_fact() -> None:
    grounded = ground("The office is in Tallinn (5).", PASSAGES)
    assert grounded.text == ""
    assert grounded.unsupported == ("5",)


def test_facts_spread_over_two_passages_cite_both() -> None:
    grounded = ground("Maria Koster's team of 40 people works in Tallinn.", PASSAGES)
    assert grounded.text == "Maria Koster's team of 40 people works in Tallinn [1][2]."
    assert grounded.cited == (1, 2)


def test_the_question_s_own_names_and_figures_need_no_passage() -> None:
    # A multi-hop answer restates the question; only what it adds (the year) is its claim.
    question = "In which year was the King who made the 1925 Birthday Honours born?"
    king = Evidence(1, "George V (3 June 1865 - 20 January 1936) was King from 1910.")
    answer = "The King who made the 1925 Birthday Honours was born in 1865."

    grounded = ground(answer, [king], question=question)

    assert grounded.text == f"{answer[:-1]} [1]."
    assert grounded.verified


def test_an_answer_figure_the_question_did_not_give_still_needs_a_passage() -> None:
    question = "In which year was the King who made the 1925 Birthday Honours born?"
    king = Evidence(1, "George V (3 June 1865 - 20 January 1936) was King from 1910.")

    grounded = ground("The King was born in 1866.", [king], question=question)

    assert not grounded.verified
    assert grounded.unsupported == ("1866",)


def test_a_yes_that_confirms_the_question_s_figure_must_be_supported() -> None:
    question = "Does the lease end on 14 April 2027?"

    grounded = ground("Yes, the lease ends on 14 April 2027.", PASSAGES, question=question)

    assert not grounded.verified
    assert grounded.text == ""


@pytest.mark.parametrize(
    "date",
    ["14 March 2027", "2027-03-14", "March 14, 2027", "14th of March 2027", "14.03.2027",
     "Mar 2027", "14. März 2027"],
)  # fmt: skip
def test_a_date_in_another_format_is_supported(date: str) -> None:
    grounded = ground(f"The lease ends on {date}.", PASSAGES)
    assert grounded.text == f"The lease ends on {date} [1]."


def test_a_date_with_the_wrong_day_is_not_supported() -> None:
    grounded = ground("The lease ends on 15 March 2027.", PASSAGES)
    assert grounded.text == ""
    assert grounded.unsupported == ("15 March 2027",)


@pytest.mark.parametrize(
    "amount", ["EUR 1,200.50", "€1,200.50", "1.200,50 EUR", "1200.5 euros", "EUR 1.200,50"]
)
def test_an_amount_written_another_way_is_supported(amount: str) -> None:
    grounded = ground(f"The monthly rent is {amount}.", PASSAGES)
    assert grounded.verified
    assert grounded.cited == (1,)


@pytest.mark.parametrize("amount", ["$3.5M", "3,500,000 USD", "$3.5 million"])
def test_a_scaled_amount_is_supported(amount: str) -> None:
    assert ground(f"Revenue reached {amount}.", PASSAGES).cited == (2,)


def test_echoed_instructions_and_quoted_passage_lines_are_removed() -> None:
    answer = (
        "Answer the question using only the numbered passages below.\n"
        "> The lease between Acme Corporation and Maria Koster starts on 2025-04-01\n"
        "The lease ends on 14 March 2027."
    )
    grounded = ground(answer, PASSAGES, scaffolding=[INSTRUCTIONS])
    assert grounded.text == "The lease ends on 14 March 2027 [1]."
    assert grounded.echoed == 2
    assert grounded.removed == ()


def test_passage_labels_and_answer_labels_are_removed() -> None:
    answer = '[1] "lease.pdf", page 3:\nPassage 2 (page 1):\nAnswer: The office is in Tallinn.'
    grounded = ground(answer, PASSAGES)
    assert grounded.text == "The office is in Tallinn [2]."
    assert grounded.echoed == 3


def test_an_answer_restating_the_question_is_removed() -> None:
    answer = (
        "The document is: Search my documents: when does the lease with Maria Koster end? "
        "It ends on 14 March 2027."
    )
    grounded = ground(answer, PASSAGES, scaffolding=[INSTRUCTIONS, QUESTION])
    assert grounded.text == "It ends on 14 March 2027 [1]."
    assert grounded.echoed == 1


def test_an_answer_reusing_the_question_wording_with_new_facts_is_kept() -> None:
    answer = "The lease with Maria Koster does end on 14 March 2027."
    grounded = ground(answer, PASSAGES, scaffolding=[QUESTION])
    assert grounded.text == "The lease with Maria Koster does end on 14 March 2027 [1]."
    assert grounded.echoed == 0


def test_an_answer_that_restates_the_question_around_its_answer_is_kept() -> None:
    question = (
        "Who won the singles title at a 1973 tennis tournament held at a Los Angeles arena "
        "designed by architect Charles Luckman?"
    )
    arena = Evidence(1, "The 1973 Virginia Slims of Los Angeles was won by Margaret Court.")
    answer = (
        "[1] Margaret Court won the singles title at a 1973 tennis tournament held at a Los "
        "Angeles arena designed by architect Charles Luckman."
    )

    grounded = ground(answer, [arena], question=question)

    assert grounded.text.startswith("Margaret Court won the singles title")
    assert grounded.text.endswith("Charles Luckman [1].")
    assert grounded.echoed == 0


def test_a_bullet_list_keeps_its_structure() -> None:
    answer = (
        "Key facts:\n\n- Lease ends 2027-03-14\n- Office: Berlin\n- Revenue: $3.5M\n\nThat is all."
    )
    grounded = ground(answer, PASSAGES)
    assert grounded.text == (
        "Key facts:\n\n- Lease ends 2027-03-14 [1]\n- Revenue: $3.5M [2]\n\nThat is all."
    )
    assert grounded.removed == ("Office: Berlin",)


def test_a_table_keeps_its_header_and_cites_each_row() -> None:
    header = "| Item | Value |\n|---|---|\n"
    answer = header + "| Team | 40 people |\n| Revenue growth | 12% |\n| Staff | 75 |"
    grounded = ground(answer, PASSAGES)
    assert grounded.text == header + "| Team | 40 people [2] |\n| Revenue growth | 12% [2] |"
    assert grounded.unsupported == ("75",)


def test_list_numbering_is_not_a_fact() -> None:
    grounded = ground("1. The office is in Tallinn.\n2. The team has 40 people.", PASSAGES)
    assert grounded.text == "1. The office is in Tallinn [2].\n2. The team has 40 people [2]."


def test_the_documents_do_not_say_is_kept_without_a_marker() -> None:
    grounded = ground("The documents do not say. [1]", PASSAGES)
    assert grounded.text == "The documents do not say."
    assert grounded.cited == ()
    assert grounded.verified


def test_an_abstention_naming_the_asked_for_person_is_kept() -> None:
    grounded = ground("The documents do not mention Peter Brown.", PASSAGES)
    assert grounded.text == "The documents do not mention Peter Brown."


def test_a_fact_free_sentence_cites_the_passage_it_paraphrases() -> None:
    grounded = ground("The team and the office grew with revenue.", PASSAGES)
    assert grounded.text == "The team and the office grew with revenue [2]."


def test_a_fact_free_sentence_with_weak_overlap_gets_no_marker() -> None:
    grounded = ground("I hope this helps with your planning.", PASSAGES)
    assert grounded.text == "I hope this helps with your planning."
    assert grounded.report() == "Checked 1 statement: 1 without a citation."


def test_decimals_abbreviations_and_initials_do_not_split_sentences() -> None:
    answer = "Dr. M. Koster signed, i.e. approx. 12% growth. The office is in Berlin."
    grounded = ground(answer, [LEASE, OFFICE])
    assert grounded.removed == ("The office is in Berlin.",)
    assert grounded.text == "Dr. M. Koster signed, i.e. approx. 12% growth [1][2]."


def test_everything_removed_leaves_no_text() -> None:
    grounded = ground("> quoted\nThe office is in Berlin.", PASSAGES)
    assert grounded.text == ""
    assert grounded.echoed == 1
    assert grounded.report() == (
        "Checked 1 statement: 1 removed (unsupported: Berlin). Dropped 1 echoed prompt line."
    )


@pytest.mark.parametrize(
    ("removed", "note"),
    [
        (0, None),
        (1, "1 statement could not be verified against the documents and was removed."),
        (3, "3 statements could not be verified against the documents and were removed."),
    ],
)
def test_the_note_counts_removed_statements(removed: int, note: str | None) -> None:
    answer = GroundedAnswer(text="", removed=tuple(f"s{i}" for i in range(removed)))
    assert answer.note == note


def test_the_report_names_citations_and_failed_facts() -> None:
    answer = (
        "The lease ends on 14 March 2027. Revenue grew 12%. The team has 40 people. "
        "It was signed in 2023."
    )
    assert ground(answer, PASSAGES).report() == (
        "Checked 4 statements: 3 supported by [1], [2]; 1 removed (unsupported: 2023)."
    )


@pytest.mark.parametrize(
    ("sentence", "found"),
    [
        (
            "Maria Koster signed in Tallinn on 14 March 2027 for €1,200 [1].",
            ["Maria Koster", "Tallinn", "14 March 2027", "€1,200"],
        ),
        ("3. Revenue was $3.5M, up 12% in Q3 2026.", ["$3.5M", "12%", "Q3 2026"]),
        ("On Monday, the Acme Corp board met (see passage 2).", ["Acme Corp"]),
        ("The total is 1.200 EUR, due March 14th, 2027.", ["1.200 EUR", "March 14th, 2027"]),
        ("Unfortunately, the lease says nothing.", []),
    ],
)
def test_facts_are_numbers_dates_and_names_as_written(sentence: str, found: list[str]) -> None:
    assert facts(sentence) == found


def test_a_yes_answer_that_restates_the_question_is_kept() -> None:
    question = "Are Giuseppe Verdi and Ambroise Thomas both opera composers?"
    evidence = [
        Evidence(1, "Giuseppe Verdi was an Italian opera composer."),
        Evidence(2, "Ambroise Thomas was a French composer, best known for his operas."),
    ]

    grounded = ground(
        "Yes, Giuseppe Verdi and Ambroise Thomas are both opera composers.",
        evidence,
        scaffolding=(question,),
    )

    assert grounded.text.startswith("Yes, Giuseppe Verdi and Ambroise Thomas")
    assert grounded.echoed == 0


def _releases(*numbered_rows: tuple[int, tuple[str, ...]]) -> list[Evidence]:
    """Table passages of `ubuntu.csv`: each its rows, under the file's name."""
    return [Evidence(n, "ubuntu.csv\n" + "\n".join(rows), rows=rows) for n, rows in numbered_rows]


RELEASES = _releases(
    (1, ("version: 26.04 LTS; codename: Resolute Raccoon; release: 2026-04-23; eol: 2031-05-29",)),
    (
        2,
        (
            "version: 20.04 LTS; codename: Focal Fossa; release: 2020-04-23; eol: 2025-05-29",
            "version: 20.10; codename: Groovy Gorilla; release: 2020-10-22; eol: 2021-07-22",
        ),
    ),
    (3, ("version: 24.04 LTS; codename: Noble Numbat; release: 2024-04-25; eol: 2029-05-31",)),
)


def test_a_value_from_another_row_of_a_table_is_not_support() -> None:
    # Stranger walk: ubuntu.csv's 26.04 row ranked first, and the model gave its date.
    question = "When does Ubuntu 20.04 reach end of standard support?"

    wrong = ground("Ubuntu 20.04 reaches end of standard support on 2031-05-29.", RELEASES,
                   question=question)  # fmt: skip
    right = ground("Ubuntu 20.04 reaches end of standard support on 2025-05-29.", RELEASES,
                   question=question)  # fmt: skip
    neighbour = ground("Ubuntu 20.04 reaches end of standard support on 2021-07-22.", RELEASES,
                       question=question)  # fmt: skip

    assert wrong.text == ""
    assert wrong.unsupported == ("2031-05-29",)
    assert right.text == "Ubuntu 20.04 reaches end of standard support on 2025-05-29 [2]."
    assert neighbour.text == ""  # the next row of the same passage is another row


def test_a_question_about_a_neighbouring_row_is_answered_from_that_row() -> None:
    # Stranger walk: "Which Ubuntu release came right after Bionic Beaver?" was answered
    # with Bionic Beaver's own release date, which its row holds.
    question = "Which release came right after Focal Fossa?"
    focal, groovy = RELEASES[1].rows

    right = ground("The release after Focal Fossa is 20.10, Groovy Gorilla.", RELEASES,
                   question=question)  # fmt: skip
    far = ground("The release after Focal Fossa is 24.04 LTS, Noble Numbat.", RELEASES,
                 question=question)  # fmt: skip

    assert row_beside(question, RELEASES) == Neighbour(2, groovy, "Focal Fossa", after=True)
    assert row_beside("What preceded Groovy Gorilla?", RELEASES) == Neighbour(
        2, focal, "Groovy Gorilla", after=False
    )
    assert right.text == "The release after Focal Fossa is 20.10, Groovy Gorilla [2]."
    assert far.text == ""  # another passage's row is not beside it
    assert row_beside("When was Focal Fossa released?", RELEASES) is None
    assert row_beside("What came before Focal Fossa?", RELEASES) is None  # not shown


def test_facts_about_two_rows_each_bound_to_its_own_name_are_supported() -> None:
    grounded = ground(
        "Focal Fossa was released on 2020-04-23 and Noble Numbat on 2024-04-25.",
        RELEASES,
        question="When were Focal Fossa and Noble Numbat released?",
    )

    assert grounded.text == (
        "Focal Fossa was released on 2020-04-23 and Noble Numbat on 2024-04-25 [2][3]."
    )


def test_an_answer_naming_what_the_question_did_not_is_checked_as_before() -> None:
    grounded = ground(
        "The latest release is 26.04 LTS, released on 2026-04-23.",
        RELEASES,
        question="What is the newest release?",
    )

    assert grounded.text == "The latest release is 26.04 LTS, released on 2026-04-23 [1]."


def test_a_value_the_model_put_in_brackets_is_unwrapped_and_its_marker_kept() -> None:
    grounded = ground(
        "Noble Numbat's standard support ends on [2029-05-31] [3]. See [the notes](http://x/1).",
        RELEASES,
        question="When does Noble Numbat's standard support end?",
    )

    assert grounded.text.startswith("Noble Numbat's standard support ends on 2029-05-31 [3].")


def test_the_rows_about_what_the_question_names_are_found() -> None:
    about = rows_about("When does Ubuntu 20.04 reach end of standard support?", RELEASES)
    unnamed = rows_about("Which release is supported longest?", RELEASES)

    assert about == [(2, RELEASES[1].rows[0])]
    assert unnamed == []


def test_a_name_binds_rows_by_the_words_the_table_holds() -> None:
    # Stranger walk: "Debian Stretch" is a row's "Stretch" under the file name debian.csv;
    # read as one name no row held, it bound nothing, and another row's date passed.
    question = "When did Ubuntu Focal Fossa reach end of standard support?"

    wrong = ground("Ubuntu Focal Fossa reached end of standard support on 2021-07-22.",
                   RELEASES, question=question)  # fmt: skip
    right = ground("Ubuntu Focal Fossa reached end of standard support on 2025-05-29.",
                   RELEASES, question=question)  # fmt: skip

    assert wrong.text == ""
    assert wrong.unsupported == ("2021-07-22",)
    assert right.text.endswith("on 2025-05-29 [2].")
    assert rows_about(question, RELEASES) == [(2, RELEASES[1].rows[0])]


def test_the_names_and_versions_a_question_shares_with_rows_are_found() -> None:
    rows = [row for item in RELEASES for row in item.rows]
    ledger = ["date: 2026-03-02; item: paper; amount: 15", "date: 2026-03-09; amount: 80"]

    assert named_in_rows("When did Ubuntu Focal Fossa reach end of life?", rows) == [
        "Ubuntu Focal Fossa"
    ]
    assert named_in_rows("When does 20.04 reach end of life?", rows) == ["20.04"]
    assert named_in_rows("What is the capital of France?", rows) == []
    assert named_in_rows("What is 15% of 80?", ledger) == []


NOBLE = _releases(
    (
        1,
        (
            "version: 24.04 LTS; codename: Noble Numbat; series: noble; created: 2023-10-12; "
            "release: 2024-04-25; eol: 2029-05-31",
        ),
    ),
)


def test_a_value_after_a_columns_name_must_be_that_columns() -> None:
    # Stranger walk: "24.04 LTS, released on 12/10/2023": the row's created date.
    question = "Which Ubuntu release is codenamed Noble Numbat and when was it released?"

    created = ground("Noble Numbat is 24.04 LTS, released on 12/10/2023.", NOBLE,
                     question=question)  # fmt: skip
    released = ground("Noble Numbat is 24.04 LTS, released on 2024-04-25.", NOBLE,
                      question=question)  # fmt: skip
    both = ground(
        "Noble Numbat was created on 2023-10-12 and released on 2024-04-25; its end of life "
        "is 2029-05-31.",
        NOBLE,
        question=question,
    )

    assert created.text == ""
    assert created.unsupported == ("12/10/2023",)
    assert released.text == "Noble Numbat is 24.04 LTS, released on 2024-04-25 [1]."
    assert both.text.endswith("its end of life is 2029-05-31 [1].")


def _debian_row(row: str) -> list[Evidence]:
    """One row of Debian's `debian.csv`, shown as passage [1]."""
    return [Evidence(1, f"debian.csv\n{row}", rows=(row,))]


def _kept(evidence: list[Evidence], question: str) -> Callable[[str], str]:
    """What the check keeps of an answer to `question` over `evidence`."""
    return lambda answer: ground(answer, evidence, question=question).text


BOOKWORM = _debian_row(
    "version: 12; codename: Bookworm; series: bookworm; created: 2021-08-14; "
    "release: 2023-06-10; eol: 2026-07-11; eol-lts: 2028-06-30; eol-elts: 2033-06-30"
)
BULLSEYE = _debian_row(
    "version: 11; codename: Bullseye; series: bullseye; created: 2019-07-06; "
    "release: 2021-08-14; eol: 2024-08-14; eol-lts: 2026-08-31; eol-elts: 2031-06-30"
)


def test_a_sentence_naming_no_row_is_about_the_questions_and_its_column_is_read() -> None:
    # Stranger walk on debian.csv: "Its long-term support ends on 2026-07-11": Bookworm's
    # `eol`; its `eol-lts` is 2028-06-30. "long-term support" names `lts` by its initials.
    kept = _kept(BOOKWORM, "When was Bookworm released, and when does its long-term support end?")

    assert kept("Its long-term support ends on 2026-07-11.") == ""
    assert kept("Its long-term support ends on 2028-06-30.") == (
        "Its long-term support ends on 2028-06-30 [1]."
    )
    assert kept("It reached its end of life on 2026-07-11.") == (
        "It reached its end of life on 2026-07-11 [1]."
    )
    assert kept("It was released on 2021-08-14.") == ""


def test_a_marker_where_the_answer_should_be_is_not_an_answer() -> None:
    # Stranger walk on ubuntu.csv: "Which release comes after Lunar Lobster?" got
    # "The release that comes after Lunar Lobster is [6].", kept as "supported by [6]".
    question = "Which release comes after Noble Numbat?"

    placeholder = ground("The release that comes after Noble Numbat is [1].", NOBLE,
                         question=question)  # fmt: skip
    answer = ground("Noble Numbat is 24.04 LTS [1].", NOBLE, question=question)

    assert placeholder.text == ""
    assert placeholder.removed == ("The release that comes after Noble Numbat is.",)
    assert answer.text == "Noble Numbat is 24.04 LTS [1]."


def test_a_column_named_after_its_value_is_read_and_only_for_its_kind() -> None:
    # Stranger walk: "Until 2024-08-14, Bullseye gets extended LTS" (its `eol`), kept.
    kept = _kept(BULLSEYE, "Until when does Bullseye get LTS?")

    assert kept("Until 2024-08-14, Bullseye gets LTS.") == ""
    assert kept("Until 2026-08-31, Bullseye gets LTS.") == (
        "Until 2026-08-31, Bullseye gets LTS [1]."
    )
    assert kept("Bullseye is Debian 11 LTS until 2026-08-31.") == (
        "Bullseye is Debian 11 LTS until 2026-08-31 [1]."
    )
    # Stranger walk: "extended LTS" is `eol-elts`, not `eol-lts`.
    assert kept("Until 2026-08-31, Bullseye gets extended LTS.") == ""
    assert kept("Bullseye gets extended LTS until 2031-06-30.") == (
        "Bullseye gets extended LTS until 2031-06-30 [1]."
    )
