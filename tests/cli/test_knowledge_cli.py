"""`cadre ingest` and `cadre search` as a person runs them: real processes and embedder, offline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from knowledge.catalog import DocumentRecord
from tests.knowledge.doc_files import make_pdf
from tests.support.env import subprocess_env

PASSWORD = "correct-horse-battery-staple-42"
FACT = "The Zephyr-7 reactor was commissioned in Tromso on 12 March 2031."
FILLER = "The annual report describes routine operations, budgets and staffing. " * 6


def cadre(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m app ARGS` as a separate process with the network guard, offline."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=data_dir,
        env=subprocess_env(CADRE_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def add_users(data_dir: Path, *names: str) -> None:
    """Create users in the data directory's database, as `cadre users add` does."""
    from app.auth.users import UserDirectory
    from app.db import database_url, migrate
    from app.db.sessions import EngineSessions

    async def add() -> None:
        url = database_url(data_dir)
        await migrate(url)
        sessions = EngineSessions(url)
        try:
            for name in names:
                await UserDirectory(sessions).add(name, PASSWORD)
        finally:
            await sessions.close()

    asyncio.run(add())


def documents_of(data_dir: Path, name: str) -> list[DocumentRecord]:
    """The user's document records in the database."""
    from app.auth.users import UserDirectory
    from app.db import database_url
    from app.db.chainlit_data.layer import CadreDataLayer
    from app.db.stores import SqlDocumentCatalog

    async def read() -> list[DocumentRecord]:
        layer = CadreDataLayer.from_url(database_url(data_dir), data_dir / "files")
        try:
            account = await UserDirectory(layer).get(name)
            assert account is not None
            return await SqlDocumentCatalog(layer).list_documents(account.id)
        finally:
            await layer.close()

    return asyncio.run(read())


@dataclass
class Library:
    """A data directory with one user, a four-page report and a broken PDF, ingested once."""

    data_dir: Path
    report: Path
    broken: Path
    ingest: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    data_dir = tmp_path_factory.mktemp("cadre-data")
    files = tmp_path_factory.mktemp("files")
    pages = [
        ("Overview", f"Page one. {FILLER}"),
        ("Staff", f"Page two. Staff numbers grew to 240 people. {FILLER}"),
        ("Facilities", f"{FACT} {FILLER}"),
        ("Outlook", f"Page four. An office opens in Lisbon next year. {FILLER}"),
    ]
    report = make_pdf(files / "report.pdf", pages)
    broken = files / "broken.pdf"
    broken.write_bytes(report.read_bytes()[:400])  # a download cut short
    add_users(data_dir, "alice")
    ingest = cadre(data_dir, "ingest", str(report), str(broken), "--user", "alice")
    return Library(data_dir, report, broken, ingest)


@pytest.mark.slow
def test_ingest_reports_each_file_and_fails_only_the_broken_one(library: Library) -> None:
    result = library.ingest

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("report.pdf: ready (4 pages, ") for line in lines), lines
    [failure] = [line for line in lines if line.startswith("broken.pdf: failed: ")]
    assert "could not be read as a PDF" in failure
    assert "1 ready or already there, 1 failed" in result.stderr
    # The chat's document list (the database) shows both, as the server would.
    statuses = {record.name: record.status for record in documents_of(library.data_dir, "alice")}
    assert statuses == {"report.pdf": "ready", "broken.pdf": "failed"}


@pytest.mark.slow
def test_ingest_keeps_the_original_of_a_ready_file_as_the_chat_does(library: Library) -> None:
    kept = list((library.data_dir / "documents").rglob("*.pdf"))

    # The broken PDF failed, so only the report is kept (the Analyst reads sheets from here).
    assert [path.read_bytes() for path in kept] == [library.report.read_bytes()]
    [record] = [r for r in documents_of(library.data_dir, "alice") if r.name == "report.pdf"]
    assert kept[0].name == f"{record.document_id}.pdf"
    assert kept[0].parent.name == record.owner


@pytest.mark.slow
def test_search_json_cites_the_page_that_holds_the_fact(library: Library) -> None:
    # With a single user, --user may be left out.
    result = cadre(
        library.data_dir, "search", "Where was the Zephyr-7 reactor commissioned?", "--json"
    )

    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    top = hits[0]
    assert top["document"] == "report.pdf"
    assert top["page"] == 3
    assert top["section"] == "Facilities"
    assert "Zephyr-7" in top["text"]
    assert isinstance(top["score"], float)
    assert [hit["rank"] for hit in hits] == list(range(1, len(hits) + 1))


@pytest.mark.slow
def test_ingesting_the_same_file_again_is_a_duplicate(library: Library) -> None:
    result = cadre(library.data_dir, "ingest", str(library.report), "--user", "alice")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("report.pdf: duplicate, already ingested")


def test_an_unknown_user_is_told_how_to_create_one(tmp_path: Path) -> None:
    add_users(tmp_path, "alice")

    result = cadre(tmp_path, "search", "anything", "--user", "bob")

    assert result.returncode == 1
    assert "There is no user called 'bob'" in result.stderr
    assert "cadre users add bob" in result.stderr


def test_with_several_users_the_user_must_be_named(tmp_path: Path) -> None:
    add_users(tmp_path, "alice", "bob")

    result = cadre(tmp_path, "ingest", str(tmp_path / "missing.pdf"))

    assert result.returncode == 1
    assert "There are 2 users (alice, bob)" in result.stderr
    assert "--user NAME" in result.stderr


@pytest.mark.slow
def test_search_runs_on_onnx_runtime_without_torch_or_chainlit(library: Library) -> None:
    # The ingest exported and verified the ONNX graph; a search then needs nothing heavier.
    script = (
        "import runpy, sys\n"
        "sys.argv = ['cadre', 'search', 'Where was the Zephyr-7 reactor commissioned?', '--json']\n"
        "try:\n"
        "    runpy.run_module('app', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "loaded = [m for m in ('torch', 'sentence_transformers', 'chainlit') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env=subprocess_env(CADRE_DATA_DIR=str(library.data_dir)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    json_text, _, loaded = result.stdout.rpartition("LOADED")
    assert json.loads(json_text)[0]["page"] == 3
    assert loaded.strip() == "[]"
