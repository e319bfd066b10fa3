"""The `cadre` command: serve the app, chat from a terminal, check the installation."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Annotated

import typer

from app.cli.collections import collections_cli
from app.cli.keys import keys_cli
from app.cli.knowledge import knowledge_cli
from app.cli.options import DataDir, load_settings
from app.cli.sites import sites_cli
from app.cli.users import db_cli, users_cli

cli = typer.Typer(
    name="cadre",
    help="Cadre: a chat-first AI workforce that runs on your own machine.",
    no_args_is_help=True,
    add_completion=False,
)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind [env: CADRE_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [env: CADRE_PORT].")] = None,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Start the web app (http://HOST:PORT); the model loads in the background."""
    import uvicorn

    from app.server import create_app

    settings = load_settings(data_dir)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    bind_host, bind_port = host or settings.host, port or settings.port
    typer.echo(f"Cadre is starting on http://{bind_host}:{bind_port} (data in {settings.data_dir})")
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level=log_level.lower())


@cli.command()
def chat(
    question: Annotated[str, typer.Argument(help="What to ask.")],
    data_dir: DataDir = None,
) -> None:
    """Ask one question and stream the answer to the terminal."""
    from agents.errors import CadreError
    from agents.models.base import ChatMessage, QueuePosition, TextChunk
    from app.services import Services

    settings = load_settings(data_dir)
    model = Services.from_settings(settings).chat_model

    async def run() -> None:
        typer.echo(f"(loading {settings.chat_model}…)", err=True)
        await model.warm()
        messages = [ChatMessage.system(settings.system_prompt), ChatMessage.user(question)]
        async for event in model.stream(messages):
            if isinstance(event, TextChunk):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, QueuePosition):
                typer.echo(f"(waiting: position {event.position})", err=True)
        sys.stdout.write("\n")

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        typer.echo("\n(stopped)", err=True)
        raise typer.Exit(130) from None
    except CadreError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None


@cli.command()
def doctor(data_dir: DataDir = None) -> None:
    """Check device, runtimes, bundled models and versions; say how to fix what is missing."""
    from app.cli.doctor import diagnose

    report = diagnose(load_settings(data_dir))
    for check in report:
        mark = {"ok": "✔", "warn": "!", "fail": "✘"}[check.status]
        typer.echo(f"{mark} {check.name:<22} {check.detail}")
        if check.fix and check.status != "ok":
            typer.echo(f"  {'':<22} fix: {check.fix}")
    if any(c.status == "fail" for c in report):
        raise typer.Exit(1)


cli.add_typer(users_cli)
cli.add_typer(db_cli)
cli.add_typer(knowledge_cli)
cli.add_typer(keys_cli)
cli.add_typer(sites_cli)
cli.add_typer(collections_cli)


def main() -> None:
    """Entry point of the `cadre` console script."""
    # Everything Cadre writes (the database with password hashes and every conversation,
    # documents, secrets) is for this account only, whatever umask the shell had.
    os.umask(0o077)
    cli()
