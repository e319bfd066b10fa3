"""Plans made in code: clauses, kinds of work, and the Chief of Staff running the steps in order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agents import (
    ANALYST,
    CHIEF_OF_STAFF,
    OPERATORS,
    RESEARCHER,
    WRITER,
    DelegationStarted,
    RunFinished,
    RunStarted,
    SemanticRouter,
    TextDelta,
    ToolCallFinished,
    UserScope,
)
from agents.knowledge_tools import DocumentMatch, row_search
from agents.models.base import Capabilities
from agents.models.scripted import ScriptedModel
from agents.planner import Plan, Planner, PlanStep, clauses, kinds_of_work
from knowledge.base import KnowledgeBase
from knowledge.embedder import HashEmbedder
from knowledge.ingest import Upload
from tests.agents.agent_helpers import collect, of, team
from tests.knowledge.retrieval_helpers import ingest_ok

FLEET = (
    "Research what our plan says about the fleet, then compute 48 electric vans plus "
    "12 diesel trucks, and draft a two-line note to the board"
)
FLEET_CLAUSES = [
    "Research what our plan says about the fleet",
    "compute 48 electric vans plus 12 diesel trucks",
    "draft a two-line note to the board",
]


def small(name: str, turns: list[str]) -> ScriptedModel:
    """A scripted model that cannot call tools, like the bundled local models."""
    return ScriptedModel(list(turns), name=name, capabilities=Capabilities(tools=False))


def hash_router() -> SemanticRouter:
    return SemanticRouter(HashEmbedder(), OPERATORS, CHIEF_OF_STAFF.examples)


def hash_planner() -> Planner:
    return Planner(hash_router(), OPERATORS)


# --- clauses and kinds of work ------------------------------------------------------------


def test_a_three_part_request_is_cut_into_its_clauses() -> None:
    assert clauses(FLEET) == FLEET_CLAUSES
    assert clauses("Research the market, then compute the margin and draft a summary") == [
        "Research the market",
        "compute the margin",
        "draft a summary",
    ]


def test_a_single_question_stays_whole() -> None:
    question = "What does the lease say about the deposit and the pet policy?"

    assert clauses(question) == [question]


@pytest.mark.parametrize(
    ("request_text", "kinds"),
    [
        ("What does the lease say about the deposit?", ["documents"]),
        ("Find the notice period in our supplier agreement", ["documents"]),
        ("Work out the monthly payment on 24,000 over 36 months", ["arithmetic"]),
        ("Draft an email to the landlord about the broken heater", ["writing"]),
        ("Check the contract and draft a polite reply to the vendor", ["documents", "writing"]),
        (FLEET, ["documents", "arithmetic", "writing"]),
        # Documents named by kind, numbers worked with, texts produced, in everyday words.
        (
            "Skim the board minutes and put together a heads-up for the team",
            ["documents", "writing"],
        ),
        (
            "Based on the SLA, how quickly must we answer? Let the on-call team know",
            ["documents", "writing"],
        ),
        ("What's 12% of 3,400? Shoot off a reply to the vendor", ["arithmetic", "writing"]),
        ("Split 900 across 4 people and email the team", ["arithmetic", "writing"]),
        ("Hi there!", []),
        # A question that only mentions a text is a look-up; the same words as a request are not.
        ("Which function turns an error code into a readable message?", []),
        ("A short email to the team saying the office is closed Friday", ["writing"]),
        ("What is the latest end-of-life date in the table?", ["documents"]),
        ("Book a table for four at 7pm", []),
        ("Give me summary statistics for this CSV: a,b\n1,2", []),
    ],
)
def test_the_kinds_of_work_a_request_names_are_found_in_flow_order(
    request_text: str, kinds: list[str]
) -> None:
    assert kinds_of_work(request_text) == kinds


def test_how_many_without_numbers_is_a_look_up_not_arithmetic() -> None:
    assert kinds_of_work("How many vacation days do we get?") == []


def test_how_much_with_numbers_is_arithmetic() -> None:
    assert kinds_of_work("How much is the late fee on a 12,000 invoice?") == ["arithmetic"]


# --- the planner --------------------------------------------------------------------------


async def test_a_multi_part_request_is_planned_read_then_compute_then_write() -> None:
    plan = await hash_planner().plan(FLEET)

    assert plan.operators == ["Researcher", "Analyst", "Writer"]
    assert plan.steps[0].task == FLEET_CLAUSES[0]
    assert plan.reason == (
        "This request has 3 parts, planned by the kinds of work it asks for: "
        "Researcher → Analyst → Writer."
    )


async def test_a_single_purpose_request_is_one_step_with_the_whole_request() -> None:
    request = "Draft an email to the landlord about the broken heater"

    plan = await hash_planner().plan(request)

    assert [(s.operator, s.task) for s in plan.steps] == [("Writer", request)]
    assert plan.reason == 'This asks for Writer work ("Draft").'


async def test_a_greeting_is_planned_for_no_one() -> None:
    plan = await hash_planner().plan("Hi there!")

    assert plan.steps == ()
    assert plan.reason == "A question I can answer myself."


@pytest.fixture(scope="module")
def real_router() -> SemanticRouter:
    from knowledge.embedder import SentenceTransformerEmbedder

    return SemanticRouter(SentenceTransformerEmbedder(), OPERATORS, CHIEF_OF_STAFF.examples)


@pytest.mark.slow
async def test_with_the_bundled_embedder_each_step_gets_its_own_clause(
    real_router: SemanticRouter,
) -> None:
    plan = await Planner(real_router, OPERATORS).plan(FLEET)

    assert [(s.operator, s.task) for s in plan.steps] == list(
        zip(["Researcher", "Analyst", "Writer"], FLEET_CLAUSES, strict=True)
    )


@pytest.mark.slow
async def test_a_clause_the_router_is_sure_of_adds_work_the_cues_missed(
    real_router: SemanticRouter,
) -> None:
    # "the onboarding pack" names no document the cues know; its clause is plainly a look-up.
    request = "Search the onboarding pack for the laptop policy and write a note to new starters"
    assert kinds_of_work(request) == ["writing"]

    plan = await Planner(real_router, OPERATORS).plan(request)

    assert plan.operators == ["Researcher", "Writer"]


# --- the Chief of Staff runs a plan -------------------------------------------------------

FOUND = "The plan replaces 31 diesel trucks with 48 electric vans and keeps 12 trucks."
COMPUTED = "48 + 12 = 60 vehicles in the new fleet."
WRITTEN = "Dear board, our fleet will have 60 vehicles. Kind regards, Operations."


async def test_the_chief_runs_a_plan_in_order_and_combines_the_results() -> None:
    researcher = small("researcher", [FOUND])
    analyst = small("analyst", [COMPUTED])
    writer = small("writer", [WRITTEN])
    chief_model = small("chief", [])  # the plan's answer is put together in code
    t = team(
        chief_model,
        [(RESEARCHER, researcher), (ANALYST, analyst), (WRITER, writer)],
        router=hash_router(),
    )
    assert not t.chief.uses_tools

    events = await collect(t.chief.stream(FLEET))

    root = events[0]
    assert isinstance(root, RunStarted)
    steps = [e for e in of(events, ToolCallFinished) if e.run_id == root.run_id]
    assert [s.tool for s in steps] == ["route", "plan"]
    assert not steps[1].is_error
    started = of(events, DelegationStarted)
    assert [d.operator for d in started] == ["Researcher", "Analyst", "Writer"]
    assert {d.run_id for d in started} == {root.run_id}
    runs = {e.agent: e for e in of(events, RunStarted) if e.parent_run_id == root.run_id}
    assert [runs[d.operator].run_id for d in started] == [d.child_run_id for d in started]

    assert runs["Researcher"].input == FLEET_CLAUSES[0]
    assert runs["Analyst"].input.startswith(
        f"Facts found so far (use them):\n- {FOUND}\n\nYour task: "
    )
    assert f"- {FOUND}\n- {COMPUTED}\n\nYour task: " in runs["Writer"].input
    assert FOUND in writer.calls[0].messages[-1].content
    assert COMPUTED in writer.calls[0].messages[-1].content

    tasks = t.store.all()
    assert [(task.operator, task.status) for task in tasks] == [
        ("Researcher", "done"),
        ("Analyst", "done"),
        ("Writer", "done"),
    ]

    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.run_id == root.run_id
    assert final.output == (
        f"**Researcher:** {FOUND}\n\n**Analyst:** {COMPUTED}\n\n**Writer:** {WRITTEN}"
    )
    assert "".join(e.text for e in of(events, TextDelta) if e.run_id == root.run_id) == (
        final.output
    )
    assert chief_model.calls == []


async def _close_match(request: str, owner: str, documents: Sequence[str] | None) -> float:
    """The person's documents match every request closely (a stand-in for a real search)."""
    return 0.9


async def test_a_request_the_documents_answer_goes_to_the_researcher_first() -> None:
    researcher = small("researcher", ["The Tallinn warehouse opens on 14 March 2027 [1]."])
    writer = small("writer", ["Dear all, Tallinn opens on 14 March 2027."])
    chief_model = small("chief", [])
    t = team(
        chief_model,
        [(RESEARCHER, researcher), (ANALYST, small("analyst", [])), (WRITER, writer)],
        router=hash_router(),
    )
    t.chief.documents = _close_match

    events = await collect(
        t.chief.stream("Draft an email about the Tallinn opening", deps=UserScope("alice"))
    )

    [route] = [e for e in of(events, ToolCallFinished) if e.tool == "route"]
    assert route.output.startswith("Your documents match this request closely (0.90)")
    assert [d.operator for d in of(events, DelegationStarted)] == ["Researcher", "Writer"]
    assert "14 March 2027" in writer.calls[0].messages[-1].content


async def test_without_a_close_match_the_named_operator_works_alone() -> None:
    writer = small("writer", ["Dear team, thank you!"])
    t = team(small("chief", []), [(WRITER, writer)], router=hash_router())

    async def far(request: str, owner: str, documents: Sequence[str] | None) -> float:
        return 0.1

    t.chief.documents = far

    events = await collect(
        t.chief.stream("Draft a short thank-you note to my team", deps=UserScope("alice"))
    )

    assert [d.operator for d in of(events, DelegationStarted)] == ["Writer"]


class _Decided:
    """A planner whose decision the test fixes, so only the Chief of Staff's rules are tested."""

    def __init__(self, *operators: str) -> None:
        self.operators = operators

    async def plan(self, request: str) -> Plan:
        steps = tuple(PlanStep(name, request) for name in self.operators)
        return Plan(steps, "The router decided.")


async def test_an_attached_report_is_read_by_the_researcher_even_when_the_analyst_was_picked() -> (
    None
):
    researcher = small("researcher", ["The default weight is 50 and the maximum 100 [1]."])
    analyst = small("analyst", ["The default weight is 1 and the maximum 255."])
    t = team(
        small("chief", []), [(RESEARCHER, researcher), (ANALYST, analyst)], router=hash_router()
    )
    t.chief.planner = _Decided("Analyst")  # type: ignore[assignment]
    pdf = UserScope("alice", attached=("doc-spec-pdf",))

    events = await collect(t.chief.stream("What is the default weight and the maximum?", deps=pdf))

    assert [d.operator for d in of(events, DelegationStarted)] == ["Researcher"]
    assert analyst.calls == []


async def test_an_attached_table_is_computed_over_by_the_analyst() -> None:
    analyst = small("analyst", ["The total is 1,204.50."])
    t = team(
        small("chief", []),
        [(RESEARCHER, small("researcher", [])), (ANALYST, analyst)],
        router=hash_router(),
    )
    t.chief.planner = _Decided("Analyst")  # type: ignore[assignment]
    csv = UserScope("alice", attached=("doc-ledger",), attached_tables=("doc-ledger",))

    events = await collect(t.chief.stream("How many sales were over 500?", deps=csv))

    [route] = [e for e in of(events, ToolCallFinished) if e.tool == "route"]
    assert "computes over the attached tables whole" in route.output
    assert [d.operator for d in of(events, DelegationStarted)] == ["Analyst"]
    # Stranger walk: with no table named, the Analyst wrote SQL for a made-up table.
    assert (
        analyst.calls[0]
        .messages[-1]
        .content.startswith(
            "From the table attached in this conversation: How many sales were over 500?"
        )
    )


@pytest.mark.parametrize(
    ("request_text", "operator"),
    [
        ("How many releases are listed?", "Analyst"),  # a count: every row
        ("What is the latest end-of-life date?", "Analyst"),  # an extreme: every row
        ("Which release reaches end of life last?", "Analyst"),
        ("Which release came out first?", "Analyst"),
        ("What is the average of 12, 15 and 30?", "Researcher"),  # its data: not the table's
        ("When was Bookworm released?", "Researcher"),  # a look-up: the passages
    ],
)
async def test_a_figure_over_the_conversations_table_is_computed_by_the_analyst(
    request_text: str, operator: str
) -> None:
    # Stranger walk: after debian.csv was attached, "How many Debian releases are listed?"
    # went to the Researcher, which counted the rows search showed it: 15 of 22.
    t = team(
        small("chief", []),
        [(RESEARCHER, small("researcher", ["12 June [1]."])), (ANALYST, small("analyst", ["22"]))],
        router=hash_router(),
    )
    t.chief.planner = _Decided("Researcher")  # type: ignore[assignment]
    t.chief.documents = _matching(("doc-debian",), 0.5)
    follow_up = UserScope("alice", earlier=("doc-debian",), earlier_tables=("doc-debian",))

    events = await collect(t.chief.stream(request_text, deps=follow_up))

    assert [d.operator for d in of(events, DelegationStarted)] == [operator]
    if operator == "Analyst":
        [route] = [e for e in of(events, ToolCallFinished) if e.tool == "route"]
        assert "computes over it whole" in route.output


def _matching(conversation: tuple[str, ...], score: float) -> DocumentMatch:
    """Documents that match `score` when the search is limited to `conversation`, else 0.35."""

    async def match(request: str, owner: str, documents: Sequence[str] | None) -> float:
        return score if documents is not None and tuple(documents) == conversation else 0.35

    return match


async def test_a_follow_up_about_the_conversations_file_is_answered_from_it() -> None:
    researcher = small("researcher", ["In the packages directory [1]."])
    chief_model = small("chief", ["Somewhere in the application's folder."])
    t = team(chief_model, [(RESEARCHER, researcher)], router=hash_router())
    t.chief.planner = _Decided()  # type: ignore[assignment]  # no operator: the chief answers
    t.chief.documents = _matching(("doc-spec",), 0.33)
    follow_up = UserScope("alice", earlier=("doc-spec",))

    events = await collect(t.chief.stream("Where should it be installed?", deps=follow_up))

    [route] = [e for e in of(events, ToolCallFinished) if e.tool == "route"]
    assert route.output.startswith("The files of this conversation match this request closely")
    assert [d.operator for d in of(events, DelegationStarted)] == ["Researcher"]
    assert chief_model.calls == []
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.output == "In the packages directory [1]."


DEBIAN_CSV = """version,codename,series,created,release,eol
8,Jessie,jessie,2013-04-25,2015-04-26,2018-06-17
9,Stretch,stretch,2015-04-25,2017-06-17,2020-07-18
10,Buster,buster,2017-06-17,2019-07-06,2022-09-10
11,Bullseye,bullseye,2019-07-06,2021-08-14,2024-08-14
"""


@pytest.mark.parametrize(
    ("request_text", "answered_by"),
    [
        ("When did Debian Stretch reach end of life?", "Researcher"),
        ("What is the capital of France?", None),
        ("Does a stretch of road need a permit?", None),
    ],
)
async def test_a_follow_up_naming_a_row_of_the_conversations_table_is_answered_from_it(
    tmp_path: Path, request_text: str, answered_by: str | None
) -> None:
    # Stranger walk: after debian.csv, "When did Debian Stretch reach end of life?" matched
    # the table's passages weakly (one row among many), and the Chief answered from memory:
    # "July 20, 2019"; the row says 2020-07-18.
    kb = await KnowledgeBase.open(tmp_path / "kb", HashEmbedder(64))
    [table] = await ingest_ok(kb, "alice", Upload("debian.csv", DEBIAN_CSV.encode()))
    researcher = small("researcher", ["Debian Stretch reached end of life on 2020-07-18 [1]."])
    chief_model = small("chief", ["It reached end of life on July 20, 2019."])
    t = team(chief_model, [(RESEARCHER, researcher)], router=hash_router())
    t.chief.planner = _Decided()  # type: ignore[assignment]  # no operator: the chief answers
    earlier = (table.document_id,)
    t.chief.documents = _matching(earlier, 0.1)  # a weak match, as MiniLM gave it
    t.chief.table_rows = row_search(kb)
    follow_up = UserScope("alice", earlier=earlier, earlier_tables=earlier)

    try:
        events = await collect(t.chief.stream(request_text, deps=follow_up))
    finally:
        await kb.close()

    delegated = [d.operator for d in of(events, DelegationStarted)]
    [route] = [e for e in of(events, ToolCallFinished) if e.tool == "route"]
    if answered_by is None:
        assert delegated == []
        assert chief_model.calls
    else:
        assert delegated == [answered_by]
        assert route.output.startswith(
            'It names "Debian Stretch", which a row of this conversation\'s table holds'
        )
        assert chief_model.calls == []


async def test_without_files_in_the_conversation_the_same_match_is_not_enough() -> None:
    chief_model = small("chief", ["Paris."])
    t = team(chief_model, [(RESEARCHER, small("researcher", []))], router=hash_router())
    t.chief.planner = _Decided()  # type: ignore[assignment]
    t.chief.documents = _matching(("doc-spec",), 0.33)  # 0.35 over all documents: below 0.4

    events = await collect(t.chief.stream("What is the capital of France?", deps=UserScope("a")))

    assert of(events, DelegationStarted) == []
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.output == "Paris."
