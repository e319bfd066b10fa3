"""Admin-made operators: `AgentSpec`s kept in the `agents` table.

The Chief of Staff's roster is the built-in operators plus the enabled rows here; a row
becomes the same `AgentSpec` a built-in is, so delegation, routing and limits need no
special case. A row that no longer makes a valid spec (a name that clashes with a built-in,
limits an older version wrote) is skipped with a warning instead of breaking every turn.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from agents.errors import ConfigError
from agents.knowledge_tools import reads_documents_only
from agents.limits import AgentLimits
from agents.spec import AgentSpec
from app.db.domain import AgentRecord, OperatorChange
from app.db.errors import PersistenceError
from app.db.sessions import Sessions
from app.db.stores import upsert
from app.db.types import utcnow

log = logging.getLogger(__name__)

_LIMIT_FIELDS = frozenset(f.name for f in fields(AgentLimits))


class OperatorStore:
    """Reads and writes admin-made operators."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def save(
        self,
        spec: AgentSpec,
        *,
        created_by: str | None = None,
        actor: Actor | None = None,
        replaces: str | None = None,
    ) -> None:
        """Insert the operator, or update the one with the same name.

        With `actor`, the change goes to the audit log (field by field against the saved
        version); with `replaces`, the operator of that name is renamed to `spec.name`.
        """
        values = _values(spec)
        if actor is not None:
            await self._save_audited(spec, values, actor, replaces or spec.name)
            return
        insert = upsert(self._sessions, AgentRecord).values(
            id=str(uuid.uuid4()), name=spec.name, created_by=created_by, enabled=True, **values
        )
        try:
            async with self._sessions.writing() as session:
                await session.execute(
                    insert.on_conflict_do_update(index_elements=["name"], set_=values)
                )
        except IntegrityError as exc:
            raise PersistenceError(
                f"cannot save operator {spec.name!r}: created_by {created_by!r} is not the "
                "users.id of an existing user"
            ) from exc

    async def _save_audited(
        self, spec: AgentSpec, values: dict[str, Any], actor: Actor, old_name: str
    ) -> None:
        try:
            async with self._sessions.writing() as session:
                row = await session.scalar(select(AgentRecord).where(AgentRecord.name == old_name))
                if row is None:
                    row = AgentRecord(
                        id=str(uuid.uuid4()), name=spec.name, created_by=actor.user_id
                    )
                    session.add(row)
                    before: dict[str, Any] = {}
                    action = "created"
                else:
                    before = _row_values(row)
                    action = "updated"
                after = {"name": spec.name, **values}
                for key, value in after.items():
                    setattr(row, key, value)
                changes = {
                    key: [before.get(key), value]
                    for key, value in after.items()
                    if key != "updated_at" and before.get(key) != value
                }
                session.add(_change(spec.name, action, changes, actor))
        except IntegrityError as exc:
            raise PersistenceError(f"cannot save operator {spec.name!r}: {exc.orig}") from exc

    async def set_enabled(self, name: str, enabled: bool, *, actor: Actor | None = None) -> bool:
        """Enable or disable the operator called `name`; whether it exists."""
        async with self._sessions.writing() as session:
            row = await session.scalar(select(AgentRecord).where(AgentRecord.name == name))
            if row is None:
                return False
            if actor is not None and row.enabled != enabled:
                state = "enabled" if enabled else "disabled"
                session.add(_change(name, state, {"enabled": [row.enabled, enabled]}, actor))
            row.enabled = enabled
            row.updated_at = utcnow()
            return True

    async def set_builtin_enabled(self, spec: AgentSpec, enabled: bool, actor: Actor) -> None:
        """Disable or enable a built-in operator (kept as a row that only carries the flag)."""
        if await self.set_enabled(spec.name, enabled, actor=actor):
            return
        async with self._sessions.writing() as session:
            session.add(
                AgentRecord(id=str(uuid.uuid4()), name=spec.name, enabled=enabled, **_values(spec))
            )
            state = "enabled" if enabled else "disabled"
            session.add(_change(spec.name, state, {"enabled": [not enabled, enabled]}, actor))

    async def set_model(
        self, name: str, model: str | None, *, actor: Actor, builtin: AgentSpec | None = None
    ) -> bool:
        """Pin the operator called `name` to `model`, or clear it with `None` (the chat's
        model again); whether it exists. A built-in (`builtin`) gets the row that carries
        its flags if it has none yet."""
        async with self._sessions.writing() as session:
            row = await session.scalar(select(AgentRecord).where(AgentRecord.name == name))
            if row is None:
                if builtin is None:
                    return False
                row = AgentRecord(id=str(uuid.uuid4()), name=name, enabled=True, **_values(builtin))
                session.add(row)
            if row.model != model:
                session.add(_change(name, "updated", {"model": [row.model, model]}, actor))
            row.model = model
            row.updated_at = utcnow()
            return True

    async def models(self) -> dict[str, str]:
        """Every saved operator's name → the model it is pinned to (built-ins' included);
        operators that run on the chat's model are left out."""
        query = select(AgentRecord.name, AgentRecord.model).where(AgentRecord.model.is_not(None))
        async with self._sessions.reading() as session:
            rows = (await session.execute(query)).all()
        return {name: model for name, model in rows if model}

    async def delete(self, name: str, *, actor: Actor) -> bool:
        """Delete the operator called `name` (its audit entries stay); whether it existed."""
        async with self._sessions.writing() as session:
            row = await session.scalar(select(AgentRecord).where(AgentRecord.name == name))
            if row is None:
                return False
            session.add(
                _change(name, "deleted", {k: [v, None] for k, v in _row_values(row).items()}, actor)
            )
            await session.delete(row)
            return True

    async def get(self, name: str) -> AgentSpec | None:
        """The saved operator called `name` (enabled or not), or `None`."""
        async with self._sessions.reading() as session:
            row = await session.scalar(select(AgentRecord).where(AgentRecord.name == name))
        return None if row is None else _spec(row)

    async def states(self) -> dict[str, bool]:
        """Every saved operator's name → whether it is enabled (built-ins' flags included)."""
        async with self._sessions.reading() as session:
            rows = (await session.execute(select(AgentRecord.name, AgentRecord.enabled))).all()
        return {name: bool(enabled) for name, enabled in rows}

    async def changes(self, name: str | None = None, limit: int = 50) -> list[OperatorChange]:
        """The audit log, newest first; of one operator if `name` is given."""
        query = select(OperatorChange).order_by(OperatorChange.id.desc()).limit(limit)
        if name is not None:
            query = query.where(OperatorChange.operator == name)
        async with self._sessions.reading() as session:
            return list(await session.scalars(query))

    async def searching(self, owner: str) -> list[str]:
        """Names of the saved operators (enabled or not) whose knowledge is `owner`'s
        documents: a shared collection, or an admin's chosen documents."""
        async with self._sessions.reading() as session:
            rows = (
                await session.execute(select(AgentRecord.name, AgentRecord.knowledge_scope))
            ).all()
        return sorted(name for name, scope in rows if (scope or {}).get("owner") == owner)

    async def enabled(self, reserved: Collection[str] = ()) -> list[AgentSpec]:
        """Every enabled operator as an `AgentSpec`, by name; `reserved` names are skipped."""
        taken = {name.casefold() for name in reserved}
        query = select(AgentRecord).where(AgentRecord.enabled.is_(True)).order_by(AgentRecord.name)
        async with self._sessions.reading() as session:
            rows = list(await session.scalars(query))
        specs = []
        for row in rows:
            if row.name.casefold() in taken:
                if row.name not in reserved:  # a built-in's own row only carries its flag
                    log.warning("operator %r is skipped: a built-in has that name", row.name)
                continue
            try:
                specs.append(_spec(row))
            except (ConfigError, TypeError, ValueError) as exc:
                log.warning("operator %r is skipped: %s", row.name, exc)
        return specs


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, for the audit log."""

    user_id: str | None
    identifier: str


def _values(spec: AgentSpec) -> dict[str, Any]:
    # {"documents": [...], "owner": admin}: some documents; {"owner": collection}: all of a
    # shared collection; None: the asking person's own documents.
    scope: dict[str, Any] | None = None
    if spec.knowledge_scope is not None:
        scope = {"documents": list(spec.knowledge_scope)}
    if spec.knowledge_owner:
        scope = {**(scope or {}), "owner": spec.knowledge_owner}
    return {
        "description": spec.description,
        "instructions": spec.instructions,
        "model": spec.model,
        "tools": list(spec.tools),
        "examples": list(spec.examples),
        "knowledge_scope": scope,
        "limits": asdict(spec.limits),
        "updated_at": utcnow(),
    }


def _row_values(row: AgentRecord) -> dict[str, Any]:
    return {
        "name": row.name,
        "description": row.description,
        "instructions": row.instructions,
        "model": row.model,
        "tools": list(row.tools or ()),
        "examples": list(row.examples or ()),
        "knowledge_scope": row.knowledge_scope,
        "limits": dict(row.limits or {}),
    }


def _change(name: str, action: str, changes: dict[str, Any], actor: Actor) -> OperatorChange:
    return OperatorChange(
        operator=name,
        action=action,
        changes=changes,
        actor_id=actor.user_id,
        actor=actor.identifier,
        created_at=utcnow(),
    )


def _spec(row: AgentRecord) -> AgentSpec:
    limits: dict[str, Any] = {k: v for k, v in (row.limits or {}).items() if k in _LIMIT_FIELDS}
    scope = (row.knowledge_scope or {}).get("documents") if row.knowledge_scope else None
    owner = (row.knowledge_scope or {}).get("owner") if row.knowledge_scope else None
    return AgentSpec(
        name=row.name,
        description=row.description,
        instructions=row.instructions,
        model=row.model,
        tools=tuple(row.tools or ()),
        examples=tuple(row.examples or ()),
        knowledge_scope=None if scope is None else tuple(scope),
        knowledge_owner=owner,
        limits=AgentLimits(**limits),
        grounded=reads_documents_only(row.tools or ()),
    )
