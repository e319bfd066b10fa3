"""Migrations build exactly the models' schema, and go down and up again, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from agents.tasks import Task
from app.db import current_revision, downgrade, make_engine, metadata, migrate, upgrade
from app.db.errors import MigrationError
from app.db.migrate import alembic_config, head_revision
from app.db.operators import OperatorStore
from app.db.sessions import Sessions
from app.db.stores import SqlTaskStore

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
HEAD = "0012"


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'cadre.db'}"
    return str(request.getfixturevalue("pg_url"))


async def schema_of(url: str) -> tuple[set[str], list[object]]:
    """The tables present, and every difference from the models' schema."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    return tables, diff


async def test_upgrade_from_empty_downgrade_to_base_and_upgrade_again(empty_url: str) -> None:
    assert await current_revision(empty_url) is None
    await migrate(empty_url)
    tables, diff = await schema_of(empty_url)
    assert diff == []
    assert set(metadata.tables) <= tables
    assert await current_revision(empty_url) == HEAD

    await downgrade(empty_url, "0001")  # one step down and back: the latest revision reverses
    assert await current_revision(empty_url) == "0001"
    await upgrade(empty_url)
    assert (await schema_of(empty_url))[1] == []

    await downgrade(empty_url, "base")
    tables, _ = await schema_of(empty_url)
    assert tables <= {"alembic_version"}
    assert await current_revision(empty_url) is None

    await upgrade(empty_url)
    tables, diff = await schema_of(empty_url)
    assert diff == []
    assert await current_revision(empty_url) == HEAD
    await migrate(empty_url)  # nothing pending: a no-op, not an error
    assert await current_revision(empty_url) == HEAD


def test_the_head_read_from_file_names_is_alembics_head(tmp_path: Path) -> None:
    # migrate() skips Alembic when the database is stamped with the head it reads from the
    # file names; a revision named otherwise would be skipped on every existing database.
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(f"sqlite:///{tmp_path / 'x.db'}"))
    assert head_revision() == scripts.get_current_head() == HEAD


async def test_an_unreachable_database_fails_with_advice_not_a_traceback() -> None:
    with pytest.raises(
        MigrationError,
        match=r"could not read the revision of the database.*"
        r"server is reachable, then run `cadre db upgrade`",
    ):
        await migrate("postgresql+asyncpg://cadre@127.0.0.1:9/nowhere")


async def test_concurrent_starts_migrate_once(empty_url: str) -> None:
    # Several processes (or workers) starting together must not trip over each other.
    await asyncio.gather(*(migrate(empty_url) for _ in range(4)))
    _, diff = await schema_of(empty_url)
    assert diff == []
    assert await current_revision(empty_url) == HEAD


async def test_operators_made_before_0004_keep_working_with_no_examples(empty_url: str) -> None:
    await upgrade(empty_url, "0003")
    engine = make_engine(empty_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO agents (id, name, description, instructions, created_at, "
                    "updated_at) VALUES ('a1', 'Clerk', 'Files invoices.', 'File them.', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
    finally:
        await engine.dispose()
    await upgrade(empty_url)
    layer = Sessions(make_engine(empty_url))
    try:
        [clerk] = await OperatorStore(layer).enabled()
    finally:
        await layer.close()
    assert (clerk.name, clerk.examples, clerk.tools) == ("Clerk", (), ())


async def test_delegations_recorded_before_0009_stay_delegations_and_urgent_is_allowed(
    empty_url: str,
) -> None:
    await upgrade(empty_url, "0008")
    engine = make_engine(empty_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO tasks (id, turn_id, operator, title, priority, created_at) "
                    "VALUES ('t1', 'turn', 'Writer', 'Draft', 'high', 1.0)"
                )
            )
    finally:
        await engine.dispose()
    await upgrade(empty_url)
    layer = Sessions(make_engine(empty_url))
    try:
        store = SqlTaskStore(layer)
        old = await store.get("t1")
        assert old is not None
        assert (old.origin, old.priority) == ("delegated", "high")
        urgent = Task.request("Chief of Staff", "Now", "Do it now", "urgent")
        await store.save(urgent)
        assert await store.get(urgent.id) == urgent
    finally:
        await layer.close()
