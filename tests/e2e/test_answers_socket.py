"""End to end on the default local model: the three walks that used to give wrong answers.

A general question, a question about a PDF attached to the same message, and a request that
needs research, a calculation and a note; each asked over the socket like the web UI does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.knowledge.doc_files import make_pdf
from tests.support.chainlit_client import ChainlitClient, Received, dumps

pytestmark = pytest.mark.slow

WAREHOUSE_PAGES = [
    "Baltic Logistics Review. Prepared for the operations committee. Contents: network, "
    "people, sites, risks.",
    "Network. Our trucks serve Riga, Vilnius and Tartu from the Kaunas hub. Parcel volumes "
    "grew by eleven percent last year.",
    "Sites. The new Tallinn warehouse opens on 14 March 2027. It replaces the rented depot "
    "in Maardu and adds cold storage.",
    "Risks. Winter road closures and fuel prices remain the main risks to delivery times.",
]
FLEET_PLAN = (
    "# Fleet plan 2027\n\n"
    "The plan replaces our ageing diesel fleet over two years. City routes move to 48 "
    "electric vans, leased from Voltera. Long-haul routes keep 12 diesel trucks until "
    "electric trucks can cover 600 km. Charging depots are owned by Marta Kask.\n"
)
FLEET_REQUEST = (
    "Research what our plan says about the fleet, then compute 48 electric vans plus 12 "
    "diesel trucks, and draft a two-line note to the board"
)


def _pdf(path: Path, pages: list[str]) -> Path:
    return make_pdf(path, [(None, text) for text in pages])


def _one(steps: list[dict[str, Any]], **fields: str) -> dict[str, Any]:
    found = [s for s in steps if all(s.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, (fields, [(s.get("name"), s.get("type")) for s in steps])
    return found[0]


def _answer(client: ChainlitClient, events: list[Received]) -> str:
    answers = client.answers(events)
    assert answers, dumps(events)
    return answers[-1]


async def test_a_general_question_gets_the_right_answer(client: ChainlitClient) -> None:
    events = await client.ask("What is the capital of France?")

    assert "Paris" in _answer(client, events)


async def test_a_question_about_an_attached_pdf_is_answered_from_it_with_its_page(
    client: ChainlitClient, tmp_path: Path
) -> None:
    report = _pdf(tmp_path / "baltic-review.pdf", WAREHOUSE_PAGES)
    file_id = await client.upload(report, "application/pdf")

    events = await client.ask_with_files("When does the new Tallinn warehouse open?", [file_id])

    answer = _answer(client, events)
    assert "14 March 2027" in answer
    assert set(re.findall(r"\[\d+\]", answer)) == {"[1]"}, answer
    assert "**Sources:** [1] baltic-review.pdf, page 3" in answer
    sources = {
        e.data["name"]: e.data
        for e in events
        if e.name == "element" and re.fullmatch(r"\[\d+\]", e.data["name"])
    }
    assert set(sources) == {"[1]"}
    assert sources["[1]"]["type"] == "pdf"
    assert sources["[1]"]["page"] == 3
    steps = list(client.messages(events).values())
    check = _one(steps, name="check_citations", type="tool")
    assert "supported by [1]" in check["output"]

    # A follow-up without the file: the conversation's file is still what it is about.
    # (The router finds no operator for it: without the file it would be a general question.)
    events = await client.ask("Where is our hub?")

    steps = list(client.messages(events).values())
    route = _one(steps, name="route", type="tool")
    assert "The files of this conversation match this request" in route["output"]
    answer = _answer(client, events)
    assert "Kaunas" in answer, answer
    assert "baltic-review.pdf, page 2" in answer


async def test_a_three_part_request_becomes_a_plan_of_three_operators(
    client: ChainlitClient, tmp_path: Path
) -> None:
    plan = tmp_path / "fleet-plan.md"
    plan.write_text(FLEET_PLAN)
    await client.ask_with_files("", [await client.upload(plan, "text/markdown")])

    events = await client.ask(FLEET_REQUEST, timeout=600)

    steps = list(client.messages(events).values())
    chief = _one(steps, name="Chief of Staff", type="run")
    researcher = _one(steps, name="Researcher", type="llm")
    analyst = _one(steps, name="Analyst", type="llm")
    writer = _one(steps, name="Writer", type="llm")
    assert {researcher["parentId"], analyst["parentId"], writer["parentId"]} == {chief["id"]}
    planned = _one(steps, name="plan", type="tool")
    assert planned["parentId"] == chief["id"]
    calculator = _one(steps, name="calculate", type="tool")
    assert calculator["parentId"] == analyst["id"]
    assert "= 60" in calculator["output"]
    assert "48" in researcher["output"]
    answer = _answer(client, events)
    assert "60" in answer
    assert answer.index("**Researcher:**") < answer.index("**Analyst:**")
    assert answer.index("**Analyst:**") < answer.index("**Writer:**")
    tasks = [e.data for e in events if e.name == "task_list"] or [
        e.data for e in events if e.name == "element" and e.data.get("type") == "tasklist"
    ]
    assert tasks, dumps(events)
