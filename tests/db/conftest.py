"""Fixtures: the same data-layer tests run on SQLite (a file in tmp_path) and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db import make_engine, metadata, migrate
from app.db.chainlit_data.layer import CadreDataLayer
from app.db.chainlit_data.storage import LocalStorageClient
from tests.db.pg import PgServer, create_database, drop_database, postgres_server

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def auth_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """The secret Chainlit signs tokens with, for this test only."""
    secret = "test-secret-for-cadre-db-tests-0123456789abcdef"
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", secret)
    return secret


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | str]:
    """A PostgreSQL server for this session, or why there is none."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer | str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if isinstance(pg_server, str):
        pytest.skip(f"PostgreSQL tests skipped: {pg_server}")
    url = asyncio.run(create_database(*pg_server))
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture(scope="session")
def pg_shared_url(pg_server: PgServer | str) -> Iterator[str]:
    """One migrated PostgreSQL database for the session's data-layer tests."""
    if isinstance(pg_server, str):
        pytest.skip(f"PostgreSQL tests skipped: {pg_server}")
    url = asyncio.run(create_database(*pg_server))
    asyncio.run(migrate(url))
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'cadre.db'}"
        asyncio.run(migrate(url))
        return url
    url = str(request.getfixturevalue("pg_shared_url"))
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def data_layer(db_url: str, tmp_path: Path) -> AsyncIterator[CadreDataLayer]:
    """Our data layer on that database, element bytes under tmp_path/files."""
    layer = CadreDataLayer(make_engine(db_url), LocalStorageClient(tmp_path / "files"))
    yield layer
    await layer.close()
