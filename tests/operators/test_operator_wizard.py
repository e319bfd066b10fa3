"""The operator wizard's state machine and the draft rules it shares with the REST API."""

from __future__ import annotations

import pytest

from agents.limits import AgentLimits
from app.operators import DraftInvalid, DraftRules, ModelOption, OperatorDraft, Wizard
from app.operators.draft import from_mapping
from app.operators.wizard import BACK, CANCEL, DONE, KEEP, OWN

RULES = DraftRules(
    taken=frozenset({"researcher", "analyst", "writer", "travel planner"}),
    models=(ModelOption("local:qwen", False, True), ModelOption("openai:gpt", True, False)),
    tools={"calculate": "Evaluate arithmetic.", "search_documents": "Search documents."},
    documents={"doc-1": "lease.pdf", "doc-2": "budget.xlsx"},
    owner="admin-id",
)
DESCRIPTION = "Checks expense reports against the travel and spending policy."
SAMPLES = "Check this expense report\nIs a 200 euro dinner within policy?"


def walk(wizard: Wizard, *answers: object) -> Wizard:
    for answer in answers:
        wizard.answer(answer)
        assert wizard.error is None, (answer, wizard.error)
    return wizard


def test_a_full_walk_gives_the_operator_it_describes() -> None:
    wizard = walk(
        Wizard(RULES),
        "  Expense   Checker ",
        DESCRIPTION,
        OWN,
        "You check expenses. Quote the policy rule for every finding.",
        "openai:gpt",
        "calculate",
        "search_documents",
        "calculate",  # pressed twice: off again
        DONE,
        "some",
        "doc-1",
        DONE,
        "Quick",
        SAMPLES,
    )
    assert wizard.step == "review"
    spec = wizard.spec()
    assert spec.name == "Expense Checker"
    assert spec.tools == ("search_documents",)
    assert spec.model == "openai:gpt"
    assert spec.knowledge_scope == ("doc-1",)
    assert spec.knowledge_owner == "admin-id"
    assert spec.limits == AgentLimits(max_turns=4, timeout_s=60.0, max_concurrency=2)
    assert spec.examples == ("Check this expense report", "Is a 200 euro dinner within policy?")
    assert any(value.startswith("openai:gpt (plans with tools") for _, value in wizard.summary())


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "Give the operator a name"),
        ("9 lives", "starts with a letter"),
        ("Writer", "already taken"),
        ("Travel-Planner", "already taken"),  # the same delegation tool name
        ("Chief of Staff", "already taken"),
        ("x" * 41, "at most 40"),
        ("Robert'); DROP", "letters, digits"),
    ],
)
def test_invalid_names_are_asked_again_with_the_reason(name: str, reason: str) -> None:
    wizard = Wizard(RULES)
    wizard.answer(name)
    assert wizard.step == "name"
    assert wizard.error is not None
    assert reason in wizard.error
    assert reason in (wizard.question().error or "")


def test_back_and_cancel_work_at_every_step_and_keep_answers() -> None:
    wizard = walk(Wizard(RULES), "Expense Checker", DESCRIPTION, "Specialist", "")
    assert wizard.step == "tools"
    walk(wizard, BACK, BACK, BACK)
    assert wizard.step == "description"
    assert "Now: _Checks expense" in wizard.question().text
    walk(wizard, KEEP)
    assert wizard.draft.description == DESCRIPTION
    wizard.answer("back")
    wizard.answer("back")
    wizard.answer("back")  # the first step has nothing before it
    assert wizard.step == "name"
    assert wizard.error is not None
    for step_answers in ([], ["Expense Checker", DESCRIPTION, "Specialist", "", DONE]):
        fresh = walk(Wizard(RULES), *step_answers)
        fresh.answer(CANCEL)
        assert fresh.cancelled


def test_buttons_offer_back_and_cancel_and_typed_steps_say_how() -> None:
    wizard = Wizard(RULES)
    assert wizard.question().typed
    assert "type **back**" in wizard.question().text.lower()
    walk(wizard, "Expense Checker", DESCRIPTION)
    labels = [c.label for c in wizard.question().choices]
    assert labels[-2:] == ["Back", "Cancel"]


def test_only_offered_values_are_accepted() -> None:
    wizard = walk(Wizard(RULES), "Expense Checker", DESCRIPTION, "Specialist")
    wizard.answer("anthropic:claude")  # not a model that can answer now
    assert wizard.step == "model"
    assert "not a model that can answer now" in (wizard.error or "")
    walk(wizard, "")
    wizard.answer("shell")
    assert "Press one of the tools" in (wizard.error or "")
    walk(wizard, DONE, "some")
    wizard.answer("someone-elses-doc")
    assert wizard.step == "knowledge_documents"
    wizard.answer(DONE)
    assert "at least one document" in (wizard.error or "")


def test_editing_keeps_the_name_and_refuses_taken_ones() -> None:
    saved = walk(
        Wizard(RULES),
        "Expense Checker",
        DESCRIPTION,
        "Reviewer",
        "",
        DONE,
        "own",
        "Standard",
        SAMPLES,
    ).spec()
    rules = DraftRules(
        taken=RULES.taken | {"expense checker"}, models=RULES.models, tools=RULES.tools
    )
    wizard = Wizard(rules, OperatorDraft.from_spec(saved))
    walk(wizard, KEEP)
    assert wizard.draft.name == "Expense Checker"
    wizard.step = "name"
    wizard.answer("Writer")
    assert "already taken" in (wizard.error or "")


def test_the_rest_shape_is_validated_by_the_same_rules() -> None:
    with pytest.raises(DraftInvalid) as refused:
        from_mapping(
            {"name": "Writer", "description": "short", "tools": ["rm"], "colour": "red"}, RULES
        )
    reasons = refused.value.reasons
    assert "already taken" in reasons["name"]
    assert "too short" in reasons["description"]
    assert "rm" in reasons["tools"]
    assert reasons["instructions"] == "required"
    assert reasons["colour"] == "not a field of an operator"
    spec = from_mapping(
        {
            "name": "Expense Checker",
            "description": DESCRIPTION,
            "instructions": "Check expenses against the policy, rule by rule.",
            "examples": SAMPLES.splitlines(),
            "limits": {"max_turns": 3, "timeout_s": 30, "max_concurrency": 1},
        },
        RULES,
    )
    assert spec.limits.max_turns == 3
    with pytest.raises(DraftInvalid, match="max_turns"):
        from_mapping(
            {
                "name": "Expense Checker",
                "description": DESCRIPTION,
                "instructions": "Check expenses against the policy, rule by rule.",
                "examples": SAMPLES.splitlines(),
                "limits": {"max_turns": 0},
            },
            RULES,
        )


SHARED = DraftRules(
    taken=RULES.taken,
    models=RULES.models,
    tools=RULES.tools,
    documents=RULES.documents,
    collections={"coll-1": "Employee handbook"},
    owner="admin-id",
)


def test_a_shared_collection_is_searched_for_whoever_asks() -> None:
    wizard = walk(Wizard(SHARED), "Policy Desk", DESCRIPTION, "Document expert", "", DONE)
    labels = [c.label for c in wizard.question().choices]
    assert "A shared collection" in labels
    wizard.answer("shared")
    assert wizard.step == "knowledge_collection"
    wizard.answer("someone's-collection")
    assert wizard.step == "knowledge_collection"
    assert "one of the collections" in (wizard.error or "")
    walk(wizard, "coll-1", "Standard", SAMPLES)
    spec = wizard.spec()
    # The whole collection, owned by the collection: not the admin's, not the asker's.
    assert (spec.knowledge_owner, spec.knowledge_scope) == ("coll-1", None)
    assert ("Knowledge", "the shared collection Employee handbook") in wizard.summary()
    # Edited later, the wizard starts from the same collection.
    assert OperatorDraft.from_spec(spec).collection == "coll-1"


def test_the_collection_choice_is_offered_only_when_one_exists() -> None:
    wizard = walk(Wizard(RULES), "Policy Desk", DESCRIPTION, "Document expert", "", DONE)
    assert "A shared collection" not in [c.label for c in wizard.question().choices]
    wizard.answer("shared")
    assert wizard.step == "knowledge"
    assert "/collections" in (wizard.error or "")


def test_the_api_names_a_collection_by_name_and_refuses_it_with_documents() -> None:
    body = {
        "name": "Policy Desk",
        "description": DESCRIPTION,
        "instructions": "Answer from the handbook only, citing each passage you use.",
        "examples": ["What is the parental leave policy?", "How many vacation days?"],
        "tools": ["search_documents"],
    }
    spec = from_mapping({**body, "collection": "employee HANDBOOK"}, SHARED)
    assert (spec.knowledge_owner, spec.knowledge_scope) == ("coll-1", None)
    with pytest.raises(DraftInvalid) as both:
        from_mapping({**body, "collection": "coll-1", "knowledge": ["doc-1"]}, SHARED)
    assert "not both" in both.value.reasons["collection"]
    with pytest.raises(DraftInvalid) as unknown:
        from_mapping({**body, "collection": "Price lists"}, SHARED)
    assert "not a shared collection" in unknown.value.reasons["collection"]


def test_an_operator_that_only_reads_documents_answers_only_from_them() -> None:
    body = {
        "name": "Policy Desk",
        "description": DESCRIPTION,
        "instructions": "Answer from the handbook only, citing each passage you use.",
        "examples": ["What is the parental leave policy?", "How many vacation days?"],
    }
    # Grounded like the Researcher: the bundled models' answers get their citations checked.
    assert from_mapping({**body, "tools": ["search_documents"]}, SHARED).grounded
    assert not from_mapping({**body, "tools": ["search_documents", "calculate"]}, SHARED).grounded
    assert not from_mapping({**body, "tools": []}, SHARED).grounded
