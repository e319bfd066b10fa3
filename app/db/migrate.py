"""Apply Alembic migrations programmatically, on our own async engine (no alembic.ini).

Alembic loads only when there is something to migrate: every `cadre` command migrates
first, and on an up-to-date database one query says so (`cadre search` answers sooner).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.db.engine import make_engine, write_engine
from app.db.errors import MigrationError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant; PostgreSQL serializes concurrent migrators on it (SQLite: BEGIN IMMEDIATE).
_PG_LOCK_KEY = 0x43414452  # "CADR"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@cache
def head_revision() -> str:
    """The newest revision, read from the file names (`0012_limit_events.py` is "0012").

    The naming rule is checked against Alembic's own idea of the head by the tests.
    """
    numbers = (re.match(r"(\d{4})_\w+\.py$", f.name) for f in MIGRATIONS_DIR.glob("versions/*"))
    return max(match[1] for match in numbers if match)


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (default: the latest)."""
    from alembic import command

    await _run(url, lambda cfg: command.upgrade(cfg, revision), f"upgrade to {revision}")


async def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` down to `revision` (`base` drops every table)."""
    from alembic import command

    await _run(url, lambda cfg: command.downgrade(cfg, revision), f"downgrade to {revision}")


async def migrate(url: str) -> None:
    """Apply every pending migration; call once at start, before serving requests."""
    if await _stamped(url) == head_revision():
        return
    await upgrade(url, "head")


async def _stamped(url: str) -> str | None:
    """The revision the database is stamped with; None for a new database."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            try:
                query = text("SELECT version_num FROM alembic_version")
                versions = (await conn.execute(query)).all()
            except DBAPIError:
                return None  # no such table: a new database
    except Exception as exc:
        raise _failed("read the revision of", exc) from exc
    finally:
        await engine.dispose()
    return versions[0][0] if len(versions) == 1 else None


async def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

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
        raise _failed(what, exc) from exc
    finally:
        await engine.dispose()
    log.info("database %s done", what)


def _failed(what: str, exc: Exception) -> MigrationError:
    log.exception("database migration failed (%s)", what)
    return MigrationError(
        f"could not {what} the database ({exc}); check the database URL and that "
        "the server is reachable, then run `cadre db upgrade`"
    )


def _with_connection(connection: Connection, cfg: Config, action: Callable[[Config], None]) -> None:
    cfg.attributes["connection"] = connection
    action(cfg)
