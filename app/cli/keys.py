"""`cadre keys …`: personal API keys for the OpenAI-compatible API (and the REST API)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from app.cli.options import DataDir, with_store

if TYPE_CHECKING:
    from app.auth.api_keys import ApiKeyStore, KeyInfo

T = TypeVar("T")

keys_cli = typer.Typer(
    name="keys",
    help=(
        "Create, list and revoke personal API keys (OpenAI-compatible API at /v1). "
        "Signed-in people manage their own on the API keys page, /settings/keys."
    ),
    no_args_is_help=True,
)

User = Annotated[str, typer.Argument(help="The login name of the key's user.")]


def _with_keys(data_dir: Path | None, action: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    """Run `action` on the keys table (migrated first), turning our errors into messages."""
    from app.auth.api_keys import ApiKeyStore

    return with_store(data_dir, ApiKeyStore, action)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


@keys_cli.command("create")
def create(
    user: User,
    name: Annotated[str, typer.Option(help="A label to tell your keys apart.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Make a key for USER and print it once: it cannot be shown again."""
    made = _with_keys(data_dir, lambda keys: keys.create(user, name))
    typer.echo(made.secret)
    typer.echo(
        f"Created API key {made.info.prefix} ({made.info.name}) for {user}, id {made.info.id}. "
        "Copy it now: Cadre keeps only a hash and cannot show it again.",
        err=True,
    )


@keys_cli.command("list")
def list_keys(user: User, data_dir: DataDir = None) -> None:
    """Show USER's keys: id, prefix, name, state, created, last used."""
    infos: list[KeyInfo] = _with_keys(data_dir, lambda keys: keys.list(user))
    if not infos:
        typer.echo(f"{user} has no API keys: `cadre keys create {user}` makes one.")
        return
    typer.echo(f"{'ID':<36} {'PREFIX':<14} {'STATE':<8} {'CREATED':<16} {'LAST USED':<16} NAME")
    for info in infos:
        typer.echo(
            f"{info.id:<36} {info.prefix:<14} {info.state:<8} {_when(info.created_at):<16} "
            f"{_when(info.last_used_at):<16} {info.name}"
        )


@keys_cli.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's id or prefix (see `cadre keys list`).")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key: the next request that uses it gets 401."""
    info = _with_keys(data_dir, lambda keys: keys.revoke(key))
    typer.echo(f"Revoked API key {info.prefix} ({info.name}).")
