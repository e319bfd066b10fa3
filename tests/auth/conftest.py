"""Account tests run on SQLite and, where a server can be found or started, PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.db.pg import PgServer, create_database, drop_database, postgres_server


@pytest.fixture(scope="session")
def auth_pg_server() -> Iterator[PgServer | str]:
    """A PostgreSQL server for this session, or why there is none."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def auth_pg_url(auth_pg_server: PgServer | str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if isinstance(auth_pg_server, str):
        pytest.skip(f"PostgreSQL tests skipped: {auth_pg_server}")
    url = asyncio.run(create_database(*auth_pg_server))
    yield url
    asyncio.run(drop_database(url))
