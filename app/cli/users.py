"""`cadre users …` and `cadre db …`: manage who can log in, and the database schema."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from app.cli.options import DataDir, load_settings, with_store

if TYPE_CHECKING:
    from app.auth.users import Account, UserDirectory

T = TypeVar("T")

users_cli = typer.Typer(
    name="users", help="Add, list, disable and re-enable users.", no_args_is_help=True
)
db_cli = typer.Typer(name="db", help="The database: apply migrations.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The user's login name.")]


def _with_directory(data_dir: Path | None, action: Callable[[UserDirectory], Awaitable[T]]) -> T:
    """Run `action` on the users table (migrated first), turning our errors into messages."""
    from app.auth.users import UserDirectory

    return with_store(data_dir, UserDirectory, action)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        return password[:-1] if password.endswith("\r") else password
    if not sys.stdin.isatty():
        typer.echo("Error: no terminal to ask for the password: pass --password-stdin", err=True)
        raise typer.Exit(2)
    prompted: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return prompted


def _describe(account: Account) -> str:
    state = "disabled" if account.disabled else "active"
    return f"{account.identifier} ({account.role}, {state})"


@users_cli.command("add")
def add(
    name: Name,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    display_name: Annotated[str | None, typer.Option(help="The name shown in the UI.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a user who logs in with a password (asked twice, hidden, unless --password-stdin)."""
    password = _read_password(password_stdin)
    account = _with_directory(
        data_dir,
        lambda users: users.add(
            name, password, role="admin" if admin else "member", display_name=display_name
        ),
    )
    typer.echo(f"Added {_describe(account)}.")


@users_cli.command("list")
def list_users(data_dir: DataDir = None) -> None:
    """Show every user: role, state, how they log in, last login."""
    accounts = _with_directory(data_dir, lambda users: users.list())
    if not accounts:
        typer.echo("No users yet: `cadre users add NAME --admin` creates the first admin.")
        return
    typer.echo(f"{'NAME':<32} {'ROLE':<7} {'STATE':<9} {'LOGIN':<9} LAST LOGIN")
    for account in accounts:
        last = account.last_login_at.strftime("%Y-%m-%d %H:%M") if account.last_login_at else "-"
        state = "disabled" if account.disabled else "active"
        via = account.auth_provider or "-"
        typer.echo(f"{account.identifier:<32} {account.role:<7} {state:<9} {via:<9} {last}")


@users_cli.command("disable")
def disable(name: Name, data_dir: DataDir = None) -> None:
    """Stop a user from logging in; their open sessions end at their next request."""
    account = _with_directory(data_dir, lambda users: users.disable(name))
    typer.echo(f"Disabled {account.identifier}; their sessions are revoked.")


@users_cli.command("enable")
def enable(name: Name, data_dir: DataDir = None) -> None:
    """Let a disabled user log in again (they must log in anew)."""
    account = _with_directory(data_dir, lambda users: users.enable(name))
    typer.echo(f"Enabled {_describe(account)}.")


@users_cli.command("set-password")
def set_password(
    name: Name,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Give a user a new password; their open sessions end."""
    password = _read_password(password_stdin)
    account = _with_directory(data_dir, lambda users: users.set_password(name, password))
    typer.echo(f"Changed the password of {account.identifier}; their sessions are revoked.")


@users_cli.command("set-role")
def set_role(
    name: Name,
    role: Annotated[str, typer.Argument(help="admin or member.")],
    data_dir: DataDir = None,
) -> None:
    """Make a user an admin or a member."""
    account = _with_directory(data_dir, lambda users: users.set_role(name, role))
    typer.echo(f"{_describe(account)}.")


@db_cli.command("upgrade")
def upgrade(data_dir: DataDir = None) -> None:
    """Apply pending database migrations (the server also does this at start)."""
    from app.db import current_revision, migrate
    from app.db.errors import PersistenceError

    settings = load_settings(data_dir)

    async def run() -> str | None:
        await migrate(settings.db_url)
        return await current_revision(settings.db_url)

    try:
        revision = asyncio.run(run())
    except PersistenceError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"The database is at revision {revision}.")
