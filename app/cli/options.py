"""Options every `cadre` command shares, defined once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from app.settings import Settings

if TYPE_CHECKING:
    from app.db.sessions import Sessions

S = TypeVar("S")
T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where Cadre keeps its data [env: CADRE_DATA_DIR]."),
]


def load_settings(data_dir: Path | None) -> Settings:
    """The settings from the environment, with `--data-dir` winning when given."""
    return Settings() if data_dir is None else Settings(data_dir=data_dir)


def with_store(
    data_dir: Path | None,
    store: Callable[[Sessions], S],
    action: Callable[[S], Awaitable[T]],
) -> T:
    """Run `action` on `store` over the migrated database, turning our errors into messages.

    The database layers are imported here, when a command runs: `cadre search` and the other
    commands start without them.
    """
    from app.auth.errors import AuthError
    from app.db import migrate
    from app.db.errors import PersistenceError
    from app.db.sessions import EngineSessions

    settings = load_settings(data_dir)

    async def run() -> T:
        await migrate(settings.db_url)
        sessions = EngineSessions(settings.db_url)
        try:
            return await action(store(sessions))
        finally:
            await sessions.close()

    try:
        return asyncio.run(run())
    except (AuthError, PersistenceError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
