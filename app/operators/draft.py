"""`OperatorDraft`: an operator being written, and the one set of rules that validates it.

The chat's wizard checks each answer with `check_field` as it is given; anything else that
creates or edits an operator (the REST API) checks a whole draft with `validate`. Both end
in the same `AgentSpec`, so an operator means the same thing whichever door it came in by.
What is allowed depends on the deployment and the admin (`DraftRules`): names already
taken, the models that can answer now, the tools of the registry, the admin's documents and
the shared collections.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from agents.errors import CadreError
from agents.knowledge_tools import reads_documents_only
from agents.limits import AgentLimits
from agents.spec import AgentSpec, slugify

NAME_MAX = 40
DESCRIPTION_RANGE = (20, 600)
INSTRUCTIONS_RANGE = (20, 6000)
EXAMPLE_RANGE = (8, 300)
EXAMPLES_COUNT = (2, 10)
MAX_TURNS_RANGE = (1, 20)
TIMEOUT_RANGE = (10.0, 1800.0)
CONCURRENCY_RANGE = (1, 8)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 _'-]*$")

FIELDS = (
    "name",
    "description",
    "instructions",
    "model",
    "tools",
    "knowledge",
    "collection",
    "limits",
    "examples",
)
"""The parts of a draft, in the order the wizard asks for them."""


class DraftInvalid(CadreError):  # noqa: N818 (reads as what the draft is)
    """One or more answers are not acceptable; `reasons` maps each field to why."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.reasons = dict(reasons)
        super().__init__("; ".join(f"{name}: {why}" for name, why in self.reasons.items()))


@dataclass(frozen=True, slots=True)
class ModelOption:
    """A model an operator may run on, with what a person needs to know to pick it."""

    id: str
    plans_with_tools: bool
    on_this_machine: bool

    @property
    def note(self) -> str:
        """`"plans with tools, stays on this machine"`."""
        tools = "plans with tools" if self.plans_with_tools else "no tool calls (Cadre routes)"
        where = "stays on this machine" if self.on_this_machine else "requests leave the machine"
        return f"{tools}, {where}"


@dataclass(frozen=True, slots=True)
class DraftRules:
    """What a draft may name in this deployment, for this admin."""

    taken: frozenset[str] = frozenset()
    """Names in use (built-ins and saved operators), casefolded."""
    models: tuple[ModelOption, ...] = ()
    """Models that can answer now; `None` (the chat's model) is always allowed."""
    tools: Mapping[str, str] = field(default_factory=dict)
    """Tool name → one-line explanation, from the runner's registry (no delegation tools)."""
    documents: Mapping[str, str] = field(default_factory=dict)
    """The admin's ready document ids → file names."""
    collections: Mapping[str, str] = field(default_factory=dict)
    """Shared collection ids → names."""
    owner: str | None = None
    """The admin's user id: whose documents a knowledge scope names."""


@dataclass(frozen=True, slots=True)
class OperatorDraft:
    """An operator being written: each field `None` until answered."""

    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    model: str | None = None
    """`None` runs on the chat's model."""
    tools: tuple[str, ...] = ()
    knowledge: tuple[str, ...] | None = None
    """Document ids it may search; `None` for the asking user's own documents (or, with
    `collection`, for all of that collection)."""
    collection: str | None = None
    """The shared collection it searches instead of anyone's own documents."""
    limits: AgentLimits = field(default_factory=AgentLimits)
    examples: tuple[str, ...] = ()
    editing: str | None = None
    """The saved operator's name when this draft edits one (it may keep its name)."""

    @classmethod
    def from_spec(cls, spec: AgentSpec) -> OperatorDraft:
        """A draft prefilled from a saved operator, for editing."""
        return cls(
            name=spec.name,
            description=spec.description,
            instructions=spec.instructions,
            model=spec.model,
            tools=spec.tools,
            knowledge=spec.knowledge_scope,
            collection=spec.knowledge_owner if spec.knowledge_scope is None else None,
            limits=spec.limits,
            examples=spec.examples,
            editing=spec.name,
        )

    def to_spec(self, rules: DraftRules) -> AgentSpec:
        """The operator this draft describes, after checking every field."""
        validate(self, rules)
        return AgentSpec(
            name=self.name or "",
            description=self.description or "",
            instructions=self.instructions or "",
            model=self.model,
            tools=self.tools,
            knowledge_scope=self.knowledge,
            knowledge_owner=self.collection
            or (rules.owner if self.knowledge is not None else None),
            limits=self.limits,
            examples=self.examples,
            grounded=reads_documents_only(self.tools),
        )


def _text(value: Any, label: str, bounds: tuple[int, int]) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{label} must be text.")
    text = value.strip()
    low, high = bounds
    if len(text) < low:
        raise ValueError(f"{label} is too short: write at least {low} characters.")
    if len(text) > high:
        raise ValueError(f"{label} is too long: keep it under {high} characters.")
    return text


def _name(value: Any, rules: DraftRules, editing: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Give the operator a name.")
    name = " ".join(value.split())
    if len(name) > NAME_MAX:
        raise ValueError(f"A name has at most {NAME_MAX} characters.")
    if not _NAME.match(name):
        raise ValueError(
            "A name starts with a letter and uses letters, digits, spaces, - _ or ' only."
        )
    keeps_own = editing is not None and name.casefold() == editing.casefold()
    if not keeps_own and (
        name.casefold() in rules.taken
        or slugify(name) in {slugify(t) for t in rules.taken}
        or name.casefold() == "chief of staff"
    ):
        raise ValueError(f"{name!r} is already taken: pick another name.")
    return name


def _model(value: Any, rules: DraftRules) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in {m.id for m in rules.models}:
        raise ValueError(f"{value!r} is not a model that can answer now; pick one of the list.")
    return value


def _tools(value: Any, rules: DraftRules) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise ValueError("Tools are a list of tool names.")
    unknown = [t for t in value if t not in rules.tools]
    if unknown:
        raise ValueError(f"No tool called {', '.join(map(repr, unknown))}.")
    return tuple(dict.fromkeys(value))


def _knowledge(value: Any, rules: DraftRules) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(d, str) for d in value):
        raise ValueError("Knowledge is a list of document ids, or nothing for all.")
    unknown = [d for d in value if d not in rules.documents]
    if unknown:
        raise ValueError("That is not one of your ready documents.")
    return tuple(dict.fromkeys(value))


def _collection(value: Any, rules: DraftRules) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if value in rules.collections:
            return value
        named = {name.casefold(): id_ for id_, name in rules.collections.items()}
        if " ".join(value.split()).casefold() in named:
            return named[" ".join(value.split()).casefold()]
    raise ValueError(f"{value!r} is not a shared collection; pick one of the list.")


def _limits(value: Any) -> AgentLimits:
    if isinstance(value, AgentLimits):
        value = {f.name: getattr(value, f.name) for f in fields(AgentLimits)}
    if not isinstance(value, Mapping):
        raise ValueError("Limits are max_turns, timeout_s and max_concurrency.")
    extra = set(value) - {f.name for f in fields(AgentLimits)}
    if extra:
        raise ValueError(f"Unknown limit {', '.join(sorted(extra))}.")
    turns, timeout, concurrency = (
        value.get("max_turns", 8),
        value.get("timeout_s", 180.0),
        value.get("max_concurrency", 2),
    )
    if type(turns) is not int or not MAX_TURNS_RANGE[0] <= turns <= MAX_TURNS_RANGE[1]:
        raise ValueError(f"max_turns is a whole number from {MAX_TURNS_RANGE[0]} to 20.")
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not TIMEOUT_RANGE[0] <= timeout <= TIMEOUT_RANGE[1]
    ):
        raise ValueError("timeout_s is a number of seconds from 10 to 1800.")
    if type(concurrency) is not int or not 1 <= concurrency <= CONCURRENCY_RANGE[1]:
        raise ValueError(f"max_concurrency is a whole number from 1 to {CONCURRENCY_RANGE[1]}.")
    return AgentLimits(max_turns=turns, timeout_s=float(timeout), max_concurrency=concurrency)


def _examples(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [line.strip(" -•*\t") for line in value.splitlines()]
    if not isinstance(value, list | tuple):
        raise ValueError("Sample requests are a list of sentences.")
    examples = tuple(dict.fromkeys(e.strip() for e in value if isinstance(e, str) and e.strip()))
    low, high = EXAMPLES_COUNT
    if not low <= len(examples) <= high:
        raise ValueError(f"Give {low} to {high} different sample requests, one per line.")
    for example in examples:
        _text(example, "Each sample request", EXAMPLE_RANGE)
    return examples


def check_field(draft: OperatorDraft, name: str, value: Any, rules: DraftRules) -> OperatorDraft:
    """`draft` with `name` set to `value`, normalised; `ValueError` says why it is refused."""
    match name:
        case "name":
            return replace(draft, name=_name(value, rules, draft.editing))
        case "description":
            return replace(draft, description=_text(value, "The description", DESCRIPTION_RANGE))
        case "instructions":
            return replace(draft, instructions=_text(value, "The instructions", INSTRUCTIONS_RANGE))
        case "model":
            return replace(draft, model=_model(value, rules))
        case "tools":
            return replace(draft, tools=_tools(value, rules))
        case "knowledge":
            return replace(draft, knowledge=_knowledge(value, rules))
        case "collection":
            return replace(draft, collection=_collection(value, rules))
        case "limits":
            return replace(draft, limits=_limits(value))
        case "examples":
            return replace(draft, examples=_examples(value))
    raise ValueError(f"An operator has no field {name!r}.")


def validate(draft: OperatorDraft, rules: DraftRules) -> None:
    """Check every field of `draft`; raise `DraftInvalid` with the reason for each bad one."""
    reasons: dict[str, str] = {}
    for name in FIELDS:
        value = getattr(draft, name)
        try:
            check_field(draft, name, value, rules)
        except ValueError as exc:
            reasons[name] = str(exc)
    _one_knowledge(draft, reasons)
    if reasons:
        raise DraftInvalid(reasons)


def _one_knowledge(draft: OperatorDraft, reasons: dict[str, str]) -> None:
    # A collection replaces the documents an operator would search; both would be ambiguous.
    if draft.collection is not None and draft.knowledge is not None and "collection" not in reasons:
        reasons["collection"] = (
            "An operator searches a shared collection or some documents, not both: "
            "leave knowledge empty (null) to use the collection."
        )


def from_mapping(
    data: Mapping[str, Any], rules: DraftRules, editing: str | None = None
) -> AgentSpec:
    """An `AgentSpec` from a JSON-like body (the REST API's); `DraftInvalid` lists every reason."""
    draft = OperatorDraft(editing=editing)
    reasons: dict[str, str] = {}
    unknown = set(data) - set(FIELDS)
    for name in sorted(unknown):
        reasons[name] = "not a field of an operator"
    for name in FIELDS:
        if name not in data:
            if name in ("name", "description", "instructions", "examples"):
                reasons[name] = "required"
            continue
        try:
            draft = check_field(draft, name, data[name], rules)
        except ValueError as exc:
            reasons[name] = str(exc)
    _one_knowledge(draft, reasons)
    if reasons:
        raise DraftInvalid(reasons)
    return draft.to_spec(rules)


def summary(draft: OperatorDraft, rules: DraftRules) -> list[tuple[str, str]]:
    """The draft as (label, value) rows for a review card."""
    models = {m.id: m for m in rules.models}
    model = "the chat's model" if draft.model is None else draft.model
    if draft.model in models:
        model += f" ({models[draft.model].note})"
    if draft.collection is not None and draft.knowledge is None:
        name = rules.collections.get(draft.collection, "a collection that no longer exists")
        knowledge = f"the shared collection {name}"
    elif draft.knowledge is None:
        knowledge = "the asking person's own documents"
    else:
        knowledge = ", ".join(rules.documents.get(d, d) for d in draft.knowledge) or "none"
    limits = draft.limits
    timeout = "no limit" if limits.timeout_s is None else f"{limits.timeout_s:g} s"
    rows: Sequence[tuple[str, str]] = (
        ("Name", draft.name or "—"),
        ("What it is for", draft.description or "—"),
        ("Instructions", _short(draft.instructions or "—", 300)),
        ("Model", model),
        ("Tools", ", ".join(draft.tools) or "none"),
        ("Knowledge", knowledge),
        (
            "Limits",
            f"{limits.max_turns} model calls, {timeout}, {limits.max_concurrency} at once",
        ),
        ("Sample requests", "; ".join(draft.examples) or "—"),
    )
    return list(rows)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
