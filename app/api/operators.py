"""`/api/operators`: admins list, create, edit, enable, disable and delete operators.

A body is checked by the wizard's own rules (`from_mapping` with this admin's
`DraftRules`), so an operator the API accepts is one the wizard would accept, and the
reasons of a refusal are the wizard's sentences, in FastAPI's 422 shape. Every change is
saved through the audited `OperatorStore` under the caller's name. Built-ins (Researcher,
Analyst, Writer) can be disabled, enabled or pinned to a model; they are not edited or
deleted. An operator saved here is on the roster of the very next turn.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from agents import OPERATORS
from agents.spec import AgentSpec
from app.api.principal import Authenticated, Principal
from app.db.errors import PersistenceError
from app.db.operators import Actor, OperatorStore
from app.operators.draft import DraftInvalid, OperatorDraft, check_field, from_mapping
from app.operators.rules import draft_rules
from app.services import Services

__all__ = ["OperatorIn", "OperatorOut", "OperatorPatch", "operators_router"]

_NOT_FOUND = "No such operator."
_BUILTIN = "is built in: it can be disabled, enabled or pinned to a model, not {verb}."


class Limits(BaseModel):
    """How far one run of the operator may go."""

    max_turns: int = Field(default=8, description="Model calls one run may make (1-20).")
    timeout_s: float | None = Field(
        default=180.0, description="Seconds a delegated run may take (10-1800)."
    )
    max_concurrency: int = Field(default=2, description="Runs at the same time (1-8).")


class OperatorIn(BaseModel):
    """A whole operator, as the wizard would write it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="Unique; letters, digits, spaces, - _ '.")
    description: str | None = Field(
        default=None, description="What it is for: the Chief of Staff reads this to delegate."
    )
    instructions: str | None = Field(default=None, description="Its system prompt.")
    model: str | None = Field(
        default=None, description="A model that answers now; null for the chat's model."
    )
    tools: list[str] = Field(default_factory=list, description="Tool names from the registry.")
    knowledge: list[str] | None = Field(
        default=None,
        description="Ids of your documents it may search; null for the asking person's own "
        "(or, with `collection`, for the whole collection).",
    )
    collection: str | None = Field(
        default=None,
        description="A shared collection (name or id) it searches for whoever asks; "
        "`knowledge` must then be null.",
    )
    limits: Limits = Field(default_factory=Limits)
    examples: list[str] | None = Field(
        default=None, description="2-10 sample requests: the router learns from them."
    )


class OperatorPatch(BaseModel):
    """The fields to change; the others keep their saved value. A built-in takes `model`
    only."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    model: str | None = None
    tools: list[str] | None = None
    knowledge: list[str] | None = None
    collection: str | None = None
    limits: Limits | None = None
    examples: list[str] | None = None


class OperatorOut(BaseModel):
    """An operator with its state."""

    name: str
    builtin: bool
    """Built into Cadre (can be disabled, not deleted)."""
    enabled: bool
    description: str
    instructions: str
    model: str | None
    """The model it is pinned to; null: the chat's model."""
    tools: list[str]
    knowledge: list[str] | None
    """Document ids it may search; null: the asking person's own documents, or `collection`."""
    collection: str | None
    """The id of the shared collection it searches, if any."""
    limits: Limits
    examples: list[str]


def operators_router(services: Services) -> APIRouter:
    """The `/api/operators` routes (admins only)."""
    router = APIRouter(
        prefix="/api/operators",
        tags=["operators"],
        responses={
            401: {"description": "No API key or session."},
            403: {"description": "Not an admin."},
        },
    )
    admin = Depends(Authenticated(services, role="admin"))
    store = OperatorStore(services.data_layer)
    builtins = {op.name: op for op in OPERATORS}

    async def out(name: str) -> OperatorOut:
        states = await store.states()
        if name in builtins:
            builtin = builtins[name]
            pinned = (await store.models()).get(name, builtin.model)
            return _out(replace(builtin, model=pinned), True, states.get(name, True))
        spec = await store.get(name)
        if spec is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
        return _out(spec, False, states.get(name, True))

    async def saved(name: str) -> AgentSpec:
        if name in builtins:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"{name} " + _BUILTIN.format(verb="edited")
            )
        spec = await store.get(name)
        if spec is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
        return spec

    async def keep(body: dict[str, Any], principal: Principal, editing: str | None) -> str:
        rules = await draft_rules(services, principal.user_id, editing)
        try:
            spec = from_mapping(body, rules, editing=editing)
            await store.save(spec, actor=_actor(principal), replaces=editing)
        except DraftInvalid as exc:
            raise _unprocessable(exc) from exc
        except PersistenceError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        return spec.name

    @router.get("", summary="List operators, built-ins first", response_model=list[OperatorOut])
    async def listing(principal: Principal = admin) -> list[OperatorOut]:
        """Every operator with its state, model, tools, knowledge and limits."""
        states = await store.states()
        made = sorted(name for name in states if name not in builtins)
        return [await out(name) for name in (*builtins, *made)]

    @router.get(
        "/{name}",
        summary="Read one operator",
        response_model=OperatorOut,
        responses={404: {"description": _NOT_FOUND}},
    )
    async def read(name: str, principal: Principal = admin) -> OperatorOut:
        """The operator called `name`."""
        return await out(name)

    @router.post(
        "",
        summary="Create an operator",
        status_code=status.HTTP_201_CREATED,
        response_model=OperatorOut,
        responses={422: {"description": "The reasons, field by field."}},
    )
    async def create(body: OperatorIn, principal: Principal = admin) -> OperatorOut:
        """Validated like the wizard's answers; the Chief of Staff can hand it work from the
        next turn."""
        return await out(await keep(_fields(body, exclude_unset=False), principal, None))

    @router.put(
        "/{name}",
        summary="Replace an operator",
        response_model=OperatorOut,
        responses={
            404: {"description": _NOT_FOUND},
            409: {"description": "A built-in."},
            422: {"description": "The reasons, field by field."},
        },
    )
    async def put(name: str, body: OperatorIn, principal: Principal = admin) -> OperatorOut:
        """Every field anew (a new `name` renames it); audited field by field."""
        await saved(name)
        return await out(await keep(_fields(body, exclude_unset=False), principal, name))

    @router.patch(
        "/{name}",
        summary="Change some fields of an operator",
        response_model=OperatorOut,
        responses={
            404: {"description": _NOT_FOUND},
            409: {"description": "A built-in asked for more than a model."},
            422: {"description": "The reasons, field by field."},
        },
    )
    async def patch(name: str, body: OperatorPatch, principal: Principal = admin) -> OperatorOut:
        """The given fields change, the rest stay. A built-in takes only `model` (its pin)."""
        changes = _fields(body, exclude_unset=True)
        if name in builtins:
            if set(changes) - {"model"}:
                raise HTTPException(
                    status.HTTP_409_CONFLICT, f"{name} " + _BUILTIN.format(verb="edited")
                )
            if "model" in changes:
                await pin(name, changes["model"], principal)
            return await out(name)
        current = _draft_fields(OperatorDraft.from_spec(await saved(name)))
        # Documents and a collection exclude each other: changing one lets go of the other.
        if changes.get("knowledge") is not None:
            current["collection"] = None
        if changes.get("collection") is not None:
            current["knowledge"] = None
        return await out(await keep({**current, **changes}, principal, name))

    async def pin(name: str, model: str | None, principal: Principal) -> None:
        rules = await draft_rules(services, principal.user_id, name)
        try:
            check_field(OperatorDraft(), "model", model, rules)
        except ValueError as exc:
            raise _unprocessable(DraftInvalid({"model": str(exc)})) from exc
        await store.set_model(name, model, actor=_actor(principal), builtin=builtins[name])

    async def set_enabled(name: str, enabled: bool, principal: Principal) -> OperatorOut:
        actor = _actor(principal)
        if name in builtins:
            await store.set_builtin_enabled(builtins[name], enabled, actor)
        elif not await store.set_enabled(name, enabled, actor=actor):
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
        return await out(name)

    @router.post(
        "/{name}/enable",
        summary="Enable an operator",
        response_model=OperatorOut,
        responses={404: {"description": _NOT_FOUND}},
    )
    async def enable(name: str, principal: Principal = admin) -> OperatorOut:
        """The Chief of Staff may delegate to it again."""
        return await set_enabled(name, True, principal)

    @router.post(
        "/{name}/disable",
        summary="Disable an operator",
        response_model=OperatorOut,
        responses={404: {"description": _NOT_FOUND}},
    )
    async def disable(name: str, principal: Principal = admin) -> OperatorOut:
        """Off the roster from the next turn; built-ins too."""
        return await set_enabled(name, False, principal)

    @router.delete(
        "/{name}",
        summary="Delete an operator",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={
            404: {"description": _NOT_FOUND},
            409: {"description": "A built-in: disable it instead."},
        },
    )
    async def delete(name: str, principal: Principal = admin) -> None:
        """Gone from the roster and the list; its audit entries stay."""
        if name in builtins:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"{name} " + _BUILTIN.format(verb="deleted")
            )
        if not await store.delete(name, actor=_actor(principal)):
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)

    return router


def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, identifier=principal.identifier)


def _fields(body: BaseModel, *, exclude_unset: bool) -> dict[str, Any]:
    """The body as the mapping `from_mapping` checks; unset optional text stays missing, so
    a missing name is 'required' rather than 'not text'."""
    data = body.model_dump(exclude_unset=exclude_unset)
    if not exclude_unset:
        data = {
            k: v
            for k, v in data.items()
            if v is not None or k in ("model", "knowledge", "collection")
        }
    return data


def _draft_fields(draft: OperatorDraft) -> dict[str, Any]:
    return {
        "name": draft.name,
        "description": draft.description,
        "instructions": draft.instructions,
        "model": draft.model,
        "tools": list(draft.tools),
        "knowledge": None if draft.knowledge is None else list(draft.knowledge),
        "collection": draft.collection,
        "limits": asdict(draft.limits),
        "examples": list(draft.examples),
    }


def _unprocessable(invalid: DraftInvalid) -> HTTPException:
    """FastAPI's own 422 shape, with the wizard's sentence for each field."""
    detail = [
        {"loc": ["body", field], "msg": reason, "type": "value_error"}
        for field, reason in invalid.reasons.items()
    ]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail)


def _out(spec: AgentSpec, builtin: bool, enabled: bool) -> OperatorOut:
    return OperatorOut(
        name=spec.name,
        builtin=builtin,
        enabled=enabled,
        description=spec.description,
        instructions=spec.instructions,
        model=spec.model,
        tools=list(spec.tools),
        knowledge=None if spec.knowledge_scope is None else list(spec.knowledge_scope),
        collection=spec.knowledge_owner if spec.knowledge_scope is None else None,
        limits=Limits(**asdict(spec.limits)),
        examples=list(spec.examples),
    )
