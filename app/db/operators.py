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
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from agents.errors import ConfigError
from agents.limits import AgentLimits
from agents.spec import AgentSpec
from app.db.domain import AgentRecord
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

    async def save(self, spec: AgentSpec, *, created_by: str | None = None) -> None:
        """Insert the operator, or update the one with the same name."""
        values = {
            "description": spec.description,
            "instructions": spec.instructions,
            "model": spec.model,
            "tools": list(spec.tools),
            "examples": list(spec.examples),
            "knowledge_scope": None
            if spec.knowledge_scope is None
            else {"documents": list(spec.knowledge_scope)},
            "limits": asdict(spec.limits),
            "updated_at": utcnow(),
        }
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

    async def set_enabled(self, name: str, enabled: bool) -> bool:
        """Enable or disable the operator called `name`; whether it exists."""
        async with self._sessions.writing() as session:
            row = await session.scalar(select(AgentRecord).where(AgentRecord.name == name))
            if row is None:
                return False
            row.enabled = enabled
            row.updated_at = utcnow()
            return True

    async def enabled(self, reserved: Collection[str] = ()) -> list[AgentSpec]:
        """Every enabled operator as an `AgentSpec`, by name; `reserved` names are skipped."""
        taken = {name.casefold() for name in reserved}
        query = select(AgentRecord).where(AgentRecord.enabled.is_(True)).order_by(AgentRecord.name)
        async with self._sessions.reading() as session:
            rows = list(await session.scalars(query))
        specs = []
        for row in rows:
            if row.name.casefold() in taken:
                log.warning("operator %r is skipped: a built-in has that name", row.name)
                continue
            try:
                specs.append(_spec(row))
            except (ConfigError, TypeError, ValueError) as exc:
                log.warning("operator %r is skipped: %s", row.name, exc)
        return specs


def _spec(row: AgentRecord) -> AgentSpec:
    limits: dict[str, Any] = {k: v for k, v in (row.limits or {}).items() if k in _LIMIT_FIELDS}
    scope = (row.knowledge_scope or {}).get("documents") if row.knowledge_scope else None
    return AgentSpec(
        name=row.name,
        description=row.description,
        instructions=row.instructions,
        model=row.model,
        tools=tuple(row.tools or ()),
        examples=tuple(row.examples or ()),
        knowledge_scope=None if scope is None else tuple(scope),
        limits=AgentLimits(**limits),
    )
