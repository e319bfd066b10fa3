"""The Researcher on a model that cannot be trusted to cite: answers checked and cited in code."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agents import RESEARCHER, Runner, UserScope, knowledge_tools
from agents.events import RunFinished, ToolCallFinished
from agents.knowledge_tools import document_match
from agents.models.base import Capabilities, ToolCall
from agents.models.scripted import ScriptedModel
from knowledge.base import KnowledgeBase
from knowledge.embedder import HashEmbedder
from knowledge.ingest import IngestDone
from tests.agents.agent_helpers import collect, of
from tests.knowledge.retrieval_helpers import ingest_ok, open_base, upload

ALICE = UserScope("alice-id")
PLAN = upload(
    "operations-plan.pdf",
    "# Overview\nNorthwind Logistics plans its Baltic expansion for the board.",
    "# Fleet\nThe plan replaces 31 diesel trucks with 48 electric vans and keeps 12 trucks.",
    "# Tallinn\nThe new Tallinn warehouse opens on 14 March 2027 with 65 staff.",
)


@pytest.fixture
async def kb(tmp_path: Path) -> KnowledgeBase:
    base = await open_base(tmp_path / "knowledge")
    await ingest_ok(base, ALICE.owner, PLAN)
    return base


def local_like(*turns: str) -> ScriptedModel:
    """A scripted model that cannot call tools, like the bundled local models."""
    return ScriptedModel(list(turns), capabilities=Capabilities(tools=False))


async def answer(kb: KnowledgeBase, model: ScriptedModel, question: str) -> tuple[str, str]:
    """The Researcher's final answer and what its citation checks reported."""
    events = await collect(
        Runner(model, tools=knowledge_tools(kb)).stream(RESEARCHER, question, deps=ALICE)
    )
    [finished] = [e for e in of(events, RunFinished) if e.parent_run_id is None]
    checks = [e.output for e in of(events, ToolCallFinished) if e.tool == "check_citations"]
    return finished.output, "\n".join(checks)


async def test_a_supported_answer_gets_the_citation_the_model_did_not_write(
    kb: KnowledgeBase,
) -> None:
    model = local_like("The new Tallinn warehouse opens on 14 March 2027.")

    text, check = await answer(kb, model, "When does the new Tallinn warehouse open?")

    assert text == "The new Tallinn warehouse opens on 14 March 2027 [1]."
    assert check == "Checked 1 statement: 1 supported by [1]."


async def test_a_made_up_date_is_removed_and_the_answer_says_so(kb: KnowledgeBase) -> None:
    model = local_like("The warehouse opened on January 1st, 2023.")

    text, check = await answer(kb, model, "When does the new Tallinn warehouse open?")

    assert "2023" not in text
    assert text.startswith("The documents do not say. The closest passages are")
    assert '"operations-plan.pdf", page 3, section "Tallinn" [1]' in text
    assert "1 statement could not be verified" in text
    assert "removed" in check


async def test_a_name_the_passage_was_shown_under_counts_as_its_own(kb: KnowledgeBase) -> None:
    # The rows of "ubuntu.csv" never say "Ubuntu"; an answer that does is not made up.
    await ingest_ok(kb, ALICE.owner, upload("ubuntu_releases.pdf", "22.04 LTS, Jammy Jellyfish."))
    model = local_like("Ubuntu 22.04 LTS is called Jammy Jellyfish.")

    text, check = await answer(kb, model, "Which Ubuntu release is Jammy Jellyfish?")

    assert text.startswith("Ubuntu 22.04 LTS is called Jammy Jellyfish [")
    assert "1 supported" in check


async def test_only_the_unsupported_sentence_goes(kb: KnowledgeBase) -> None:
    model = local_like(
        "The warehouse opens on 14 March 2027. It will have 80 staff and cost 9 million."
    )

    text, _ = await answer(kb, model, "Tell me about the Tallinn warehouse")

    assert text.startswith("The warehouse opens on 14 March 2027 [1].")
    assert "80 staff" not in text
    assert "1 statement could not be verified" in text


async def test_an_answer_that_loops_says_each_thing_once(kb: KnowledgeBase) -> None:
    model = local_like(
        "The new Tallinn warehouse opens on 14 March 2027 [1]. It will have 65 staff.\n"
        "The new Tallinn warehouse opens on 14 March 2027 [1]. It will have 65 staff.\n"
        "The new Tallinn warehouse opens on 14 March 2027."
    )

    text, check = await answer(kb, model, "Tell me about the Tallinn warehouse")

    assert (
        text == "The new Tallinn warehouse opens on 14 March 2027 [1]. It will have 65 staff [1]."
    )
    assert check.endswith("Dropped 3 repeated statements.")


async def test_a_mostly_made_up_answer_is_not_shown_in_pieces(kb: KnowledgeBase) -> None:
    model = local_like(
        "To open the warehouse, follow these steps:\n"
        "1. Hire 80 staff in Narva.\n"
        "2. Sign the lease with Maardu Holdings on 2 May 2026.\n"
        "3. The new Tallinn warehouse opens on 14 March 2027.\n"
        "4. Budget 9 million euros."
    )

    text, _ = await answer(kb, model, "How do we open the Tallinn warehouse?")

    assert text.startswith("I could not write an answer that the documents confirm.")
    assert '"operations-plan.pdf", page 3, section "Tallinn" [1]' in text
    assert "3 statements could not be verified" in text
    assert "3. The new Tallinn" not in text  # no orphaned list item


async def test_echoed_instructions_never_reach_the_user(kb: KnowledgeBase) -> None:
    model = local_like(
        "Answer the question from the passages above in one to four sentences.\n"
        "> The new Tallinn warehouse opens on 14 March 2027 with 65 staff.\n"
        "It opens on 14 March 2027 [7]."
    )

    text, _ = await answer(kb, model, "When does the new Tallinn warehouse open?")

    assert text == "It opens on 14 March 2027 [1]."


async def test_the_prompt_puts_the_instruction_after_the_numbered_passages(
    kb: KnowledgeBase,
) -> None:
    model = local_like("The documents do not say.")

    await answer(kb, model, "Who owns the charging depots?")

    prompt = model.calls[-1].messages[-1].content
    passages, question = prompt.index('[1] "operations-plan.pdf", page'), prompt.index("Question:")
    assert passages < question < prompt.index("in square brackets after each fact")


async def test_document_match_is_higher_for_a_question_the_documents_answer(
    kb: KnowledgeBase,
) -> None:
    match = document_match(kb)

    on_topic = await match("When does the new Tallinn warehouse open?", ALICE.owner, None)
    off_topic = await match("What is the capital of France?", ALICE.owner, None)
    nobody = await match("When does the new Tallinn warehouse open?", "someone-else", None)
    elsewhere = await match("When does the new Tallinn warehouse open?", ALICE.owner, ["other"])

    assert on_topic > off_topic
    assert nobody == 0.0
    assert elsewhere == 0.0  # limited to documents that are not this one
    assert await document_match(None)("anything", ALICE.owner, None) == 0.0


def test_the_researcher_is_grounded() -> None:
    assert RESEARCHER.grounded
    assert not replace(RESEARCHER, grounded=False).grounded


async def test_a_tool_calling_model_s_answer_is_checked_too(kb: KnowledgeBase) -> None:
    # A hosted model searches by itself and cites, but the wrong passage number and one
    # figure that is in no passage: the same check fixes the one and removes the other.
    search = ToolCall("call-1", "search_documents", {"query": "Tallinn warehouse opening"})
    model = ScriptedModel(
        [
            [search],
            "The Tallinn warehouse opens on 14 March 2027 [4]. It will employ 80 people [1].",
        ]
    )
    assert model.capabilities.tools

    text, check = await answer(kb, model, "When does the new Tallinn warehouse open?")

    assert text.startswith("The Tallinn warehouse opens on 14 March 2027 [1].")
    assert "80 people" not in text
    assert "1 statement could not be verified" in text
    assert "removed" in check


UBUNTU_CSV = (
    "version,codename,release,eol\n"
    "20.04 LTS,Focal Fossa,2020-04-23,2025-05-29\n"
    "20.10,Groovy Gorilla,2020-10-22,2021-07-22\n"
    "26.04 LTS,Resolute Raccoon,2026-04-23,2031-05-29\n"
)
WRONG_ROW = "Ubuntu 20.04 reaches end of standard support on 2031-05-29."


async def _releases(tmp_path: Path) -> KnowledgeBase:
    releases = tmp_path / "ubuntu.csv"
    releases.write_text(UBUNTU_CSV)
    base = await KnowledgeBase.open(tmp_path / "store", HashEmbedder(64))
    [done] = await base.ingest_all([releases], ALICE.owner)
    assert isinstance(done, IngestDone)
    return base


async def test_a_date_from_another_row_is_asked_again_from_the_row_asked_about(
    tmp_path: Path,
) -> None:
    # Stranger walk on Ubuntu's distro-info CSV: the 26.04 row ranked first and the model
    # gave its end-of-life date for 20.04. Shown only 20.04's row, it reads the right one.
    base = await _releases(tmp_path)
    model = local_like(WRONG_ROW, "Ubuntu 20.04 reaches end of standard support on 2025-05-29.")

    text, check = await answer(base, model, "When does Ubuntu 20.04 reach end of support?")

    assert text == "Ubuntu 20.04 reaches end of standard support on 2025-05-29 [1]."
    assert "unsupported: 2031-05-29" in check
    second = model.calls[-1].messages[-1].content
    assert "version: 20.04 LTS; codename: Focal Fossa" in second
    assert "Resolute Raccoon" not in second


async def test_the_row_after_the_one_named_is_read_alone(tmp_path: Path) -> None:
    base = await _releases(tmp_path)
    model = local_like("The release that came after Focal Fossa is Groovy Gorilla (20.10).")

    text, _ = await answer(base, model, "Which release came right after Focal Fossa?")

    assert text == "The release that came after Focal Fossa is Groovy Gorilla (20.10) [1]."
    [asked] = model.calls
    assert "version: 20.10; codename: Groovy Gorilla;" in asked.messages[-1].content
    assert "Focal Fossa;" not in asked.messages[-1].content
    assert "Passage [1] is the row right after Focal Fossa's.\nQuestion:" in (
        asked.messages[-1].content
    )


async def test_what_came_after_the_last_row_shown_is_not_read_from_that_row(
    tmp_path: Path,
) -> None:
    # Stranger walk: "Which release followed Buster?" with Buster's row last in its passage
    # was asked again of Buster's row alone, and answered with Buster's own release date.
    base = await _releases(tmp_path)
    model = local_like("Resolute Raccoon was followed by 2025-05-29.", "It is 2026-04-23.")

    text, _ = await answer(base, model, "Which release followed Resolute Raccoon?")

    assert len(model.calls) == 1
    assert text.startswith("I could not confirm an answer from the table. The row about it:")


CODENAMES = ("Hamm", "Slink", "Potato", "Woody", "Sarge", "Etch", "Lenny", "Squeeze",
             "Wheezy", "Jessie", "Stretch", "Buster", "Bullseye", "Bookworm")  # fmt: skip


async def test_the_row_after_the_last_of_a_passage_is_read_from_the_next_chunk(
    tmp_path: Path,
) -> None:
    # Stranger walk: "Which release followed Buster?" found Buster's row last in its
    # passage; the next chunk, which holds Bullseye, was not among the passages shown.
    releases = tmp_path / "debian.csv"
    releases.write_text(
        "version,codename,release,notes\n"
        + "".join(
            f"{n},{name},{1998 + n}-06-0{n % 9 + 1},{'Maintained by the release team. ' * 5}\n"
            for n, name in enumerate(CODENAMES)
        )
    )
    base = await KnowledgeBase.open(tmp_path / "store", HashEmbedder(64))
    [done] = await base.ingest_all([releases], ALICE.owner)
    assert isinstance(done, IngestDone)
    parts = await base.read_document(ALICE.owner, done.document_id)
    assert len(parts) > 1, "the table must span chunks"
    last = parts[0].rows[-1]  # "version: 3; codename: Woody; release: …"
    named = last.split("codename: ")[1].split(";")[0]
    following = CODENAMES[CODENAMES.index(named) + 1]
    model = local_like(f"The release after {named} is {following}.")

    text, _ = await answer(base, model, f"Which release came right after {named}?")

    assert text == f"The release after {named} is {following} [1]."
    [asked] = model.calls
    assert f"codename: {following};" in asked.messages[-1].content
    assert f"codename: {named};" not in asked.messages[-1].content


async def test_a_neighbour_answered_by_a_date_alone_is_shown_as_its_row(tmp_path: Path) -> None:
    # Stranger walk: "Which release followed Buster?" → "… was 2021-08-14", Bullseye's
    # release date: right row, but no release named.
    base = await _releases(tmp_path)
    model = local_like("The release that followed Focal Fossa was 2020-10-22.")

    text, _ = await answer(base, model, "Which release followed Focal Fossa?")

    assert text == (
        "The row right after Focal Fossa's [1]:\n\n"
        "> version: 20.10; codename: Groovy Gorilla; release: 2020-10-22; eol: 2021-07-22 [1]"
    )


async def test_a_second_wrong_answer_leaves_the_row_for_the_person_to_read(
    tmp_path: Path,
) -> None:
    base = await _releases(tmp_path)
    model = local_like(WRONG_ROW, WRONG_ROW)

    text, check = await answer(base, model, "When does Ubuntu 20.04 reach end of support?")

    assert "2031-05-29" not in text
    assert text.startswith("I could not confirm an answer from the table. The row about it:")
    assert (
        "> version: 20.04 LTS; codename: Focal Fossa; release: 2020-04-23; eol: 2025-05-29 [1]"
        in text
    )
    assert "unsupported: 2031-05-29" in check
