"""Async engines for SQLite (the default) and PostgreSQL, tuned so writers never fail on locks."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from app.db.errors import PersistenceError

BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for the lock before giving up."""

_BEGIN_OPTION = "cadre_sqlite_begin"


def database_url(data_dir: Path) -> str:
    """The default database: `sqlite+aiosqlite:///<data_dir>/cadre.db`."""
    return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / 'cadre.db'}"


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `sqlite+aiosqlite://` or `postgresql+asyncpg://` URLs."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database, echo=echo)
    if backend == "postgresql":
        if parsed.get_driver_name() != "asyncpg":
            raise PersistenceError(
                f"unsupported PostgreSQL driver in {parsed.render_as_string()!r}: "
                "use a postgresql+asyncpg:// URL"
            )
        return create_async_engine(
            url,
            echo=echo,
            pool_size=5,
            max_overflow=10,
            pool_pre_ping=True,  # survive a database restart without a failed request
            pool_recycle=1800,
        )
    raise PersistenceError(
        f"unsupported database URL {parsed.render_as_string()!r}: "
        "use sqlite+aiosqlite:///path/to/cadre.db or postgresql+asyncpg://user@host/db"
    )


def write_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same engine, but transactions take SQLite's write lock at BEGIN.

    A deferred transaction that reads and then writes gets SQLITE_BUSY immediately (no
    busy wait) when another writer committed in between; BEGIN IMMEDIATE waits instead,
    and makes read-modify-write sequences atomic. PostgreSQL ignores the option.
    """
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def _sqlite_engine(url: str, database: str | None, *, echo: bool) -> AsyncEngine:
    in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_S}}
    if in_memory:
        # One shared connection, or every checkout would see a fresh empty database.
        kwargs.update(poolclass=StaticPool)
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
        kwargs.update(
            poolclass=AsyncAdaptedQueuePool, pool_size=5, max_overflow=10, pool_timeout=60
        )
    engine = create_async_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so "begin" below decides how to BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL may itself wait for other processes.
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if not in_memory:
                _use_wal(cursor)
            # NORMAL is crash-safe in WAL mode; only a power cut can lose the last commits.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _use_wal(cursor: Any) -> None:
    """Put the database file in WAL mode (kept in the file: after the first time, a no-op).

    Two connections converting a new file at once deadlock inside SQLite, and the loser
    gets "database is locked" at once, without waiting out the busy timeout (two processes
    starting together on a fresh data folder). Retried briefly, it finds the file converted.
    The sleeps block the caller, but only in that race, and for milliseconds.
    """
    for attempt in Retrying(
        retry=retry_if_exception(_locked),
        wait=wait_random_exponential(multiplier=0.01, max=0.25),
        stop=stop_after_delay(BUSY_TIMEOUT_S),
        reraise=True,
    ):
        with attempt:
            cursor.execute("PRAGMA journal_mode = WAL")


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
