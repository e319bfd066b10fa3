"""`cadre collections …`: shared collections of documents that operators search.

Files go in with `cadre ingest --collection NAME FILES`; an admin gives an operator a
collection in the chat's wizard or over `/api/operators`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.knowledge import CliError, collection_owner, data_layer, open_knowledge, run_cli
from app.cli.options import DataDir, load_settings

collections_cli = typer.Typer(
    name="collections",
    help="Shared collections of documents that operators search for whoever asks them.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="The collection's name, like 'Employee handbook'.")]


@collections_cli.command("create")
def create(
    name: Name,
    about: Annotated[str, typer.Option(help="One sentence on what it holds.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Make an empty collection; add files with `cadre ingest --collection NAME FILES`."""
    from app.db.collections import CollectionStore

    settings = load_settings(data_dir)

    async def work() -> str:
        async with data_layer(settings) as layer:
            return (await CollectionStore(layer).create(name, about, by="cadre CLI")).name

    made = run_cli(work)
    typer.echo(f"Made the collection {made!r}: cadre ingest --collection {made!r} FILES")


@collections_cli.command("list")
def list_collections(data_dir: DataDir = None) -> None:
    """Show the collections, their documents and the operators that search them."""
    from app.db.collections import CollectionStore
    from app.db.operators import OperatorStore

    settings = load_settings(data_dir)

    async def work() -> list[tuple[str, int, str, str]]:
        async with data_layer(settings) as layer:
            kb = await open_knowledge(settings, layer)
            rows = []
            for found in await CollectionStore(layer).list():
                documents = await kb.list_documents(found.id)
                users = ", ".join(await OperatorStore(layer).searching(found.id)) or "-"
                rows.append((found.name, len(documents), users, found.description))
            return rows

    rows = run_cli(work)
    if not rows:
        typer.echo("No collections yet: `cadre collections create 'Employee handbook'` makes one.")
        return
    typer.echo(f"{'NAME':<30} {'DOCUMENTS':>9} {'SEARCHED BY':<30} ABOUT")
    for name, documents, users, about in rows:
        typer.echo(f"{name[:30]:<30} {documents:>9} {users[:30]:<30} {about}")


@collections_cli.command("delete")
def delete(
    name: Name,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Delete a collection and all its documents (not while an operator searches it)."""
    from app.db.collections import CollectionStore
    from app.db.operators import OperatorStore

    settings = load_settings(data_dir)

    async def users_of() -> tuple[str, list[str]]:
        async with data_layer(settings) as layer:
            owner, _ = await collection_owner(layer, name)
            return owner, await OperatorStore(layer).searching(owner)

    owner, users = run_cli(users_of)
    if users:
        typer.echo(
            f"Error: {', '.join(users)} search {name!r}: give them other knowledge first.",
            err=True,
        )
        raise typer.Exit(1)
    if not yes:
        typer.confirm(f"Delete {name!r} and all its documents?", abort=True)

    async def work() -> int:
        async with data_layer(settings) as layer:
            kb = await open_knowledge(settings, layer)
            records = await kb.list_documents(owner)
            for record in records:
                await kb.delete_document(owner, record.document_id)
            if not await CollectionStore(layer).delete(owner):
                raise CliError(f"There is no collection called {name!r}.")
            return len(records)

    removed = run_cli(work)
    typer.echo(f"Deleted {name!r} and its {removed} document(s).")
