"""Cadre's relational store: typed models, async engines and migrations."""

from __future__ import annotations

from app.db.base import Base
from app.db.domain import (
    DOCUMENT_STATUSES,
    TASK_STATUSES,
    AgentRecord,
    ApiKey,
    DocumentRow,
    TaskRecord,
    UsageRecord,
)
from app.db.engine import database_url, make_engine, write_engine
from app.db.errors import (
    MigrationError,
    NotFoundError,
    OwnershipError,
    PersistenceError,
    RemoteElementError,
    StorageKeyError,
)
from app.db.limits import LimitEvent
from app.db.migrate import current_revision, downgrade, migrate, upgrade
from app.db.models import ROLES, Element, Feedback, Step, Thread, User

metadata = Base.metadata
"""Every table; what the migrations must produce."""

__all__ = [
    "DOCUMENT_STATUSES",
    "ROLES",
    "TASK_STATUSES",
    "AgentRecord",
    "ApiKey",
    "Base",
    "DocumentRow",
    "Element",
    "Feedback",
    "LimitEvent",
    "MigrationError",
    "NotFoundError",
    "OwnershipError",
    "PersistenceError",
    "RemoteElementError",
    "Step",
    "StorageKeyError",
    "TaskRecord",
    "Thread",
    "UsageRecord",
    "User",
    "current_revision",
    "database_url",
    "downgrade",
    "make_engine",
    "metadata",
    "migrate",
    "upgrade",
    "write_engine",
]
