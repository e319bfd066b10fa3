"""The SQLite engine's connection set-up under the races a real deployment meets."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import make_engine


async def test_connections_opening_a_new_database_together_all_get_wal(tmp_path: Path) -> None:
    # Workers starting together on a fresh data folder each open the new file and switch
    # it to WAL at the same moment; SQLite lets one win and, without a retry, fails the
    # others with "database is locked" before any busy timeout applies.
    for round_ in range(40):
        engines = [
            make_engine(f"sqlite+aiosqlite:///{tmp_path / f'{round_}.db'}") for _ in range(8)
        ]
        try:
            modes = await asyncio.gather(*(_journal_mode(engine) for engine in engines))
        finally:
            await asyncio.gather(*(engine.dispose() for engine in engines))
        assert modes == ["wal"] * 8


async def _journal_mode(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(text("PRAGMA journal_mode"))).scalar_one())
