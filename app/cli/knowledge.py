"""`cadre ingest`, `cadre search` and `cadre reindex`: documents from the terminal, no server.

All work offline with the documents' embedder (`CADRE_EMBEDDER`). The knowledge owner is the
user's database id, so files ingested here are the ones that user's chats search, and the
reverse.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from app.cli.options import DataDir, load_settings
from app.settings import Settings
from knowledge.errors import CadreError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from app.auth.users import SessionSource
    from app.db.chainlit_data.layer import CadreDataLayer
    from app.db.sessions import EngineSessions
    from knowledge.base import KnowledgeBase
    from knowledge.documents import Passage
    from knowledge.embedder import Embedder
    from knowledge.ingest import IngestDone, IngestEvent
    from knowledge.search import SearchMode

T = TypeVar("T")

knowledge_cli = typer.Typer()
"""Top-level commands (`add_typer` without a name merges them into `cadre`)."""

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        "-u",
        help="Whose documents (login name); may be left out when there is only one user.",
    ),
]


class Mode(StrEnum):
    """How `cadre search` ranks passages."""

    hybrid = "hybrid"
    vector = "vector"
    fulltext = "fulltext"


_RANKING: dict[Mode, SearchMode] = {
    Mode.hybrid: "hybrid",
    Mode.vector: "vector",
    Mode.fulltext: "text",
}


class CliError(CadreError):
    """A problem the person at the terminal can fix; the message says how."""


@asynccontextmanager
async def data_layer(settings: Settings) -> AsyncIterator[CadreDataLayer]:
    """The server's database (migrated first), for users and document records."""
    from app.db import migrate
    from app.db.chainlit_data.layer import CadreDataLayer

    await migrate(settings.db_url)
    layer = CadreDataLayer.from_url(settings.db_url, settings.files_dir)
    try:
        yield layer
    finally:
        await layer.close()


@asynccontextmanager
async def user_sessions(settings: Settings) -> AsyncIterator[EngineSessions]:
    """The database (migrated first) for looking up users only: no Chainlit data layer, which
    would cost `cadre search` more than a second of imports."""
    from app.db import migrate
    from app.db.sessions import EngineSessions

    await migrate(settings.db_url)
    sessions = EngineSessions(settings.db_url)
    try:
        yield sessions
    finally:
        await sessions.close()


async def resolve_owner(layer: SessionSource, user: str | None) -> tuple[str, str]:
    """The (knowledge owner id, login name) of `user`, or of the only user when it is `None`."""
    from app.auth.users import UserDirectory

    users = UserDirectory(layer)
    if user is not None:
        account = await users.get(user.strip())
        if account is None:
            raise CliError(
                f"There is no user called {user!r}. Create one with "
                f"`cadre users add {user.strip() or 'NAME'}`, or see `cadre users list`."
            )
        return account.id, account.identifier
    accounts = await users.list()
    if not accounts:
        raise CliError(
            "There are no users yet. Create one with `cadre users add NAME --admin`, "
            "then run this again (with --user NAME)."
        )
    if len(accounts) > 1:
        names = ", ".join(a.identifier for a in accounts[:10])
        more = f" and {len(accounts) - 10} more" if len(accounts) > 10 else ""
        raise CliError(
            f"There are {len(accounts)} users ({names}{more}): say whose documents these are "
            "with --user NAME."
        )
    return accounts[0].id, accounts[0].identifier


async def open_knowledge(settings: Settings, layer: CadreDataLayer) -> KnowledgeBase:
    """The knowledge base the server uses, opened without its start-up recovery.

    Recovery treats every unfinished ingestion as dead; a running server may be ingesting
    right now, so only the server runs it. Document records go to the same database table
    the server uses, so the chat lists what was ingested here.
    """
    from transformers.utils import logging as transformers_logging

    from app.db.stores import SqlDocumentCatalog
    from app.services import document_embedder
    from knowledge.base import KnowledgeBase
    from knowledge.store import KnowledgeStore

    # Progress lines are ours; the model's own loading bar would interleave with them.
    transformers_logging.disable_progress_bar()
    embedder = await asyncio.to_thread(document_embedder, settings)
    store = await asyncio.to_thread(KnowledgeStore.for_embedder, settings.knowledge_uri, embedder)
    return KnowledgeBase(store, embedder, SqlDocumentCatalog(layer))


def run_cli(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`, turning problems the person can fix into a message and exit code 1."""
    try:
        return asyncio.run(work())
    except CadreError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("\n(stopped)", err=True)
        raise typer.Exit(130) from None


# --- ingest ---------------------------------------------------------------------------------


def expand(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to ingest (folders walked, hidden files skipped) and paths refused with why."""
    files: list[Path] = []
    refused: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            files.extend(_walk(path))
        elif not path.exists():
            refused.append((str(path), "no such file"))
        elif not path.is_file():
            refused.append((str(path), "not a regular file"))
        elif not os.access(path, os.R_OK):
            refused.append((str(path), "permission denied (cannot read it)"))
        else:
            files.append(path)
    return files, refused


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(root) / name
            if not name.startswith(".") and path.is_file() and os.access(path, os.R_OK):
                yield path


def _stage_detail(event: IngestEvent) -> str:
    from knowledge.ingest import IngestProgress

    if not isinstance(event, IngestProgress):
        return ""
    pages = f"page {event.pages_done}/{event.pages}" if event.pages else ""
    if event.stage == "parsing":
        return f"reading {pages}".strip()
    if event.stage == "embedding":
        chunks = f"{event.chunks_embedded}/{event.total} chunks embedded"
        return f"{chunks}, {pages}" if pages else chunks
    return {"queued": "waiting", "chunking": "splitting into chunks", "storing": "saving"}.get(
        event.stage, event.stage
    )


def outcome_line(event: IngestEvent) -> str:
    """`name: ready (3 pages, 7 chunks)`, `name: duplicate, …` or `name: failed: why`."""
    from knowledge.ingest import IngestDone, IngestFailed

    if isinstance(event, IngestFailed):
        return f"{event.document}: failed: {event.reason}"
    if isinstance(event, IngestDone):
        pages = f"{event.pages} pages, " if event.pages else ""
        # An e-mail's attachments are documents of their own: one line each, under it.
        parts = "".join("\n" + outcome_line(part) for part in event.attachments)
        if event.duplicate:
            return (
                f"{event.document}: duplicate, already ingested ({pages}{event.chunks} chunks)"
                + parts
            )
        return f"{event.document}: ready ({pages}{event.chunks} chunks){parts}"
    return f"{event.document}: {_stage_detail(event)}"


def _progress() -> Progress:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        console=Console(stderr=True),
        transient=True,
    )


async def _ingest(
    settings: Settings, paths: Sequence[Path], user: str | None, collection: str | None = None
) -> tuple[int, int]:

    async with data_layer(settings) as layer:
        return await _ingest_as(settings, layer, paths, user, collection)


async def collection_owner(layer: CadreDataLayer, collection: str) -> tuple[str, str]:
    """The (knowledge owner id, name) of the shared collection called `collection`."""
    from app.db.collections import CollectionStore

    found = await CollectionStore(layer).find(collection)
    if found is None:
        raise CliError(
            f"There is no collection called {collection!r}. Make one with "
            f"`cadre collections create {collection!r}`, or see `cadre collections list`."
        )
    return found.id, f"the collection {found.name}"


async def _ingest_as(
    settings: Settings,
    layer: CadreDataLayer,
    paths: Sequence[Path],
    user: str | None,
    collection: str | None = None,
) -> tuple[int, int]:
    from knowledge.ingest import IngestDone, IngestFailed, IngestProgress

    if collection is not None and user is not None:
        raise CliError("Give --user or --collection, not both: documents have one owner.")
    owner, name = await (
        collection_owner(layer, collection)
        if collection is not None
        else resolve_owner(layer, user)
    )
    files, refused = expand(paths)
    failed = len(refused)
    for path, why in refused:
        typer.echo(f"{path}: failed: {why}")
    if not files:
        if not refused:
            typer.echo("Nothing to ingest: the folders hold no readable files.")
        return 0, failed
    typer.echo(f"Ingesting {len(files)} file(s) for {name}…", err=True)
    kb = await open_knowledge(settings, layer)
    done = 0
    tasks: dict[str, TaskID] = {}
    with _progress() as progress:
        async for event in kb.ingest(files, owner):
            key = f"{event.document}\0{event.document_id}"
            if key not in tasks:
                tasks[key] = progress.add_task(event.document[:40], total=None, detail="")
            task = tasks[key]
            if isinstance(event, IngestProgress):
                if event.stage == "parsing" and event.pages:
                    progress.update(task, total=event.pages, completed=event.pages_done)
                elif event.total:
                    progress.update(task, total=event.total, completed=event.chunks_embedded)
                progress.update(task, detail=_stage_detail(event))
                continue
            progress.remove_task(task)
            typer.echo(outcome_line(event))
            if isinstance(event, IngestFailed):
                failed += 1
            elif isinstance(event, IngestDone):
                done += 1
                _keep(settings, owner, event, [f for f in files if f.name == event.document])
    return done, failed


def _keep(settings: Settings, owner: str, done: IngestDone, sources: list[Path]) -> None:
    """Keep the original, as the chat does, so the Analyst can read a spreadsheet whole."""
    from app.originals import keep_original

    if len(sources) != 1:  # an e-mail's attachment, or two files of one name: not kept
        return
    try:
        keep_original(sources[0], settings.originals_dir, owner, done.document_id, done.document)
    except OSError as error:
        typer.echo(f"{done.document}: the original could not be kept ({error})", err=True)


@knowledge_cli.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to add.")],
    user: UserOption = None,
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection", "-c", help="Add them to this shared collection instead of a user's."
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Add files to a user's documents (or a shared collection), with progress; exits 1 if
    any file failed."""
    settings = load_settings(data_dir)
    done, failed = run_cli(lambda: _ingest(settings, paths, user, collection))
    total = done + failed
    typer.echo(f"{total} file(s): {done} ready or already there, {failed} failed.", err=True)
    if failed:
        raise typer.Exit(1)


# --- search ---------------------------------------------------------------------------------


def passage_json(rank: int, passage: Passage) -> dict[str, Any]:
    """One search hit as plain JSON for scripts."""
    return {
        "rank": rank,
        "document": passage.document_name,
        "document_id": passage.document_id,
        "page": passage.page,
        "section": passage.section,
        "scanned": passage.scanned,
        "meta": dict(passage.meta),
        "chunk": passage.chunk_index,
        "score": passage.score,
        "text": passage.text,
    }


def _readable(rank: int, passage: Passage) -> str:
    where = [passage.document_name]
    if location := passage.location():
        where.append(location)  # "page 2, scanned"
    if passage.section:
        where.append(passage.section)
    text = "\n".join(f"    {line}" for line in passage.text.strip().splitlines())
    return f"[{rank}] {' · '.join(where)}  (score {passage.score:.4f})\n{text}"


def _search_embedder(settings: Settings) -> Embedder:
    """The documents' embedder for queries; for MiniLM, ONNX Runtime alone when the server (or
    an earlier ingest) has exported and verified the model, so a search does not import torch."""
    if settings.embedder != "minilm":
        from app.services import document_embedder

        return document_embedder(settings)  # e5 needs no torch: it loads in milliseconds
    from knowledge.embedder import bundled_minilm

    # What `app.services.bundled_embedder` builds (importing the services would cost a second
    # of start-up).
    return bundled_minilm(settings.models_dir / "embedder")


async def _search(
    settings: Settings, query: str, user: str | None, k: int, mode: Mode
) -> list[Passage]:
    from knowledge.search import Searcher
    from knowledge.store import KnowledgeStore

    async with user_sessions(settings) as sessions:
        owner, _ = await resolve_owner(sessions, user)
    embedder = await asyncio.to_thread(_search_embedder, settings)
    store = await asyncio.to_thread(KnowledgeStore.for_embedder, settings.knowledge_uri, embedder)
    searcher = Searcher(store, embedder)
    return await asyncio.to_thread(searcher.search, query, owner, k, _RANKING[mode])


@knowledge_cli.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    user: UserOption = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="How many passages.")] = 8,
    mode: Annotated[Mode, typer.Option(help="How to rank passages.")] = Mode.hybrid,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of passages, for scripts.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Search a user's documents; prints passages with document, page, section and score."""
    if not query.strip():
        typer.echo("Error: give something to search for.", err=True)
        raise typer.Exit(2)
    settings = load_settings(data_dir)
    passages = run_cli(lambda: _search(settings, query, user, k, mode))
    if as_json:
        hits = [passage_json(rank, p) for rank, p in enumerate(passages, start=1)]
        sys.stdout.write(json.dumps(hits, ensure_ascii=False, indent=2) + "\n")
        return
    if not passages:
        typer.echo("No passages match.")
        return
    typer.echo("\n\n".join(_readable(rank, p) for rank, p in enumerate(passages, start=1)))


# --- reindex --------------------------------------------------------------------------------


def _reindex(settings: Settings) -> str:
    from app.services import document_embedder
    from knowledge.reembed import reembed, stored_embedder

    found = stored_embedder(settings.knowledge_uri)
    if found is None:
        return f"No document index at {settings.knowledge_uri} yet: nothing to re-embed."
    embedder = document_embedder(settings)
    if found.id == embedder.id:
        return f"The document index already uses {embedder.id}: nothing to do."
    typer.echo(f"Re-embedding every passage: {found.id} -> {embedder.id} …", err=True)
    chunks = reembed(settings.knowledge_uri, embedder)
    return f"Re-embedded {chunks} passages with {embedder.id}; the index is ready to serve."


@knowledge_cli.command()
def reindex(data_dir: DataDir = None) -> None:
    """Re-embed every stored passage with the embedder `CADRE_EMBEDDER` chooses.

    Needed once after changing `CADRE_EMBEDDER`: the index holds one embedder's vectors and
    the server refuses it until then. Stop the server first. The passages' text is in the
    index, so neither the original files nor the old model are needed.
    """
    settings = load_settings(data_dir)
    typer.echo(run_cli(lambda: asyncio.to_thread(_reindex, settings)))
