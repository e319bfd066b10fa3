"""An operator's knowledge scope is enforced in retrieval: its tools never see other documents."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agents import AgentSpec, ChiefOfStaff, Runner, UserScope, knowledge_tools
from agents.knowledge_tools import KNOWLEDGE_TOOL_NAMES
from agents.models.registry import ModelRegistry
from agents.models.scripted import ScriptedModel
from agents.scope import operator_scope
from tests.agents.agent_helpers import call, collect
from tests.knowledge.retrieval_helpers import ingest_ok, open_base, upload

ADMIN = "admin-id"
MEMBER = "member-id"

LEASE = upload("lease.pdf", "# Termination\nEither party may end the lease with 30 days notice.")
PAYROLL = upload("payroll.pdf", "# Salaries\nThe termination payout for Mira is 9,000 euros.")
OWN = upload("notes.txt", "# My notes\nTermination of my gym membership needs 14 days.")


def _tool_text(model: ScriptedModel) -> str:
    return "\n".join(m.content for call_ in model.calls for m in call_.messages if m.role == "tool")


async def _member_asks(kb: object, operator: AgentSpec, calls: list[object]) -> ScriptedModel:
    """A member asks the Chief of Staff, which delegates to `operator`; that operator makes
    `calls` and answers. Its scripted model (what its tools showed it) is returned."""
    operator_model = ScriptedModel([calls, "30 days [1]."], name="operator")
    tool = "delegate_to_" + operator.name.lower().replace(" ", "_")
    chief_model = ScriptedModel(
        [[call(tool, "d1", instructions="termination terms")], "30 days."], name="chief"
    )
    registry = ModelRegistry()
    registry.add(operator_model)
    runner = Runner(chief_model, models=registry, tools=knowledge_tools(kb))  # type: ignore[arg-type]
    chief = ChiefOfStaff(runner, operators=[replace(operator, model=operator_model.id)])
    await collect(chief.stream("What are the termination terms?", deps=UserScope(MEMBER)))
    return operator_model


async def test_a_scoped_operator_searches_only_its_documents_for_whoever_asks(
    tmp_path: Path,
) -> None:
    kb = await open_base(tmp_path / "knowledge")
    lease, _payroll = await ingest_ok(kb, ADMIN, LEASE, PAYROLL)
    await ingest_ok(kb, MEMBER, OWN)
    clerk = AgentSpec(
        name="Lease Clerk",
        description="Answers questions about the office lease.",
        instructions="Answer from the lease.",
        tools=KNOWLEDGE_TOOL_NAMES,
        model=None,
        knowledge_scope=(lease.document_id,),
        knowledge_owner=ADMIN,
    )
    clerk_model = await _member_asks(
        kb,
        clerk,
        [
            call("search_documents", "s1", query="termination"),
            call("list_documents", "l1"),
            call("read_document", "r1", document="payroll.pdf"),
        ],
    )

    seen = _tool_text(clerk_model)
    assert "30 days notice" in seen
    assert "9,000" not in seen  # the admin's other document
    assert "gym membership" not in seen  # the asker's own document


def test_operator_scope_narrows_only_scoped_operators() -> None:
    asker = UserScope(MEMBER, attached=("doc-9",))
    free = AgentSpec(name="Free", description="Searches the asker's documents.", instructions="x")
    scoped = AgentSpec(
        name="Scoped",
        description="Searches two documents.",
        instructions="x",
        knowledge_scope=("a", "b"),
        knowledge_owner=ADMIN,
    )
    assert operator_scope(asker, free) is asker
    narrowed = operator_scope(asker, scoped)
    assert narrowed == UserScope(ADMIN, documents=("a", "b"))
    assert isinstance(narrowed, UserScope)
    assert not narrowed.allows("doc-9")
    assert narrowed.allows("a")


async def test_a_collection_operator_searches_the_whole_collection_and_nothing_else(
    tmp_path: Path,
) -> None:
    kb = await open_base(tmp_path / "knowledge")
    collection = "collection-id"  # a shared collection is a knowledge owner of its own
    await ingest_ok(kb, collection, LEASE)
    await ingest_ok(kb, ADMIN, PAYROLL)
    await ingest_ok(kb, MEMBER, OWN)
    desk = AgentSpec(
        name="Lease Desk",
        description="Answers questions from the shared lease collection.",
        instructions="Answer from the collection.",
        tools=KNOWLEDGE_TOOL_NAMES,
        knowledge_owner=collection,
    )
    desk_model = await _member_asks(
        kb,
        desk,
        [
            call("search_documents", "s1", query="termination"),
            call("list_documents", "l1"),
            call("read_document", "r1", document="notes.txt"),
        ],
    )

    seen = _tool_text(desk_model)
    assert "30 days notice" in seen
    assert "lease.pdf" in seen  # listed: every document of the collection
    assert "9,000" not in seen  # the admin's own document
    assert "gym membership" not in seen  # the asker's document, even when named
    assert operator_scope(UserScope(MEMBER), desk) == UserScope(collection)
