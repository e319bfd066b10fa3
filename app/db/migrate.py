"""Apply Alembic migrations programmatically, on our own async engine (no alembic.ini)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.db.engine import make_engine, write_engine
from app.db.errors import MigrationError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant; PostgreSQL serializes concurrent migrators on it (SQLite: BEGIN IMMEDIATE).
_PG_LOCK_KEY = 0x43414452  # "CADR"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (default: the latest)."""
    await _run(url, lambda cfg: command.upgrade(cfg, revision), f"upgrade to {revision}")


async def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` down to `revision` (`base` drops every table)."""
    await _run(url, lambda cfg: command.downgrade(cfg, revision), f"downgrade to {revision}")


async def migrate(url: str) -> None:
    """Apply every pending migration; call once at start, before serving requests."""
    await upgrade(url, "head")


async def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


async def _run(url: str, action: Callable[[Config], None], what: str) -> None:
    cfg = alembic_config(url)
    engine = make_engine(url)
    try:
        async with write_engine(engine).begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            await conn.run_sync(_with_connection, cfg, action)
    except MigrationError:
        raise
    except Exception as exc:
        log.exception("database migration failed (%s)", what)
        raise MigrationError(
            f"could not {what} the database ({exc}); check the database URL and that "
            "the server is reachable, then run `cadre db upgrade`"
        ) from exc
    finally:
        await engine.dispose()
    log.info("database %s done", what)


def _with_connection(connection: Connection, cfg: Config, action: Callable[[Config], None]) -> None:
    cfg.attributes["connection"] = connection
    action(cfg)
