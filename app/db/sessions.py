"""Async sessions on one engine: reads, and writes that take SQLite's lock up front."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.engine import make_engine, write_engine


class Sessions:
    """Hands out sessions on `engine`; what the data layer and the stores query through."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(write_engine(engine), expire_on_commit=False)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for queries."""
        async with self._reads() as session:
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction that holds the write lock from its start (SQLite)."""
        async with self._writes() as session, session.begin():
            yield session

    async def close(self) -> None:
        """Release the connection pool."""
        await self.engine.dispose()


class EngineSessions(Sessions):
    """Sessions on an engine of its own, for tools that run without the server (the CLI)."""

    def __init__(self, url: str) -> None:
        super().__init__(make_engine(url))
