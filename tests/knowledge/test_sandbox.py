"""A hostile file fails alone: its worker dies or is killed, the next file still parses."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from knowledge.documents import ParsedDocument
from knowledge.errors import (
    CorruptDocument,
    EncryptedDocument,
    FileTooLarge,
    KnowledgeError,
    MislabeledFile,
    ParseResourceLimit,
    ParserUnavailable,
    ParseTimeout,
)
from knowledge.parsing import ParseLimits
from knowledge.sandbox import ParseSandbox, parse_in_sandbox_async
from tests.knowledge.doc_files import (
    encrypt_pdf,
    make_chapters_pdf,
    make_docx,
    make_docx_bomb,
    make_pdf,
    truncate,
)

_CRASHING_PARSER = '''
import ctypes

from knowledge.parsing import parse_file


def crash_on_request(path, **kwargs):
    """`parse_file`, except that a file named crash* segfaults, as a broken C parser would."""
    if kwargs["name"].startswith("crash"):
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return parse_file(path, **kwargs)
'''


@pytest.fixture
def crashing_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A parser the worker can import by name (workers start from a clean interpreter)."""
    folder = tmp_path / "fault_injection"
    folder.mkdir()
    (folder / "cadre_crashing_parser.py").write_text(_CRASHING_PARSER)
    monkeypatch.syspath_prepend(str(folder))  # spawned workers inherit sys.path
    module = importlib.import_module("cadre_crashing_parser")
    yield module.crash_on_request
    monkeypatch.delitem(sys.modules, "cadre_crashing_parser")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads")
    chapters = make_chapters_pdf(folder / "chapters.pdf")
    long_pages = [(f"Part {n}", f"Long page {n}. " * 200) for n in range(1, 61)]
    html = folder / "really-html.pdf"
    html.write_text("<html><body><p>not a pdf</p></body></html>")
    return {
        "chapters": chapters,
        "long": make_pdf(folder / "long.pdf", long_pages),
        "docx": make_docx(folder / "contract.docx"),
        "bomb": make_docx_bomb(folder / "bomb.docx", megabytes=8),
        "truncated": truncate(chapters, folder / "truncated.pdf"),
        "encrypted": encrypt_pdf(chapters, folder / "locked.pdf", user_password="pw"),
        "html_pdf": html,
    }


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ParseSandbox]:
    with ParseSandbox(workers=1) as pool:
        yield pool


def _pages(document: ParsedDocument) -> list[int | None]:
    return [section.page for section in document.sections]


def test_good_file_parses_with_progress(sandbox: ParseSandbox, files: dict[str, Path]) -> None:
    seen: list[tuple[int, int]] = []
    document = sandbox.parse(
        files["chapters"], name="chapters.pdf", progress=lambda d, t: seen.append((d, t))
    )
    assert _pages(document) == [1, 2, 3, 4]
    assert document.sections[2].title == "Chapter 3"
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_each_broken_file_fails_clearly_and_the_pool_keeps_working(
    sandbox: ParseSandbox, files: dict[str, Path]
) -> None:
    expected: dict[str, type[KnowledgeError]] = {
        "bomb": ParseResourceLimit,
        "truncated": CorruptDocument,
        "encrypted": EncryptedDocument,
        "html_pdf": MislabeledFile,
    }
    for key, error in expected.items():
        with pytest.raises(error) as caught:
            sandbox.parse(files[key])
        assert str(caught.value).startswith(files[key].name)
        # The very next upload in the same pool is read normally.
        assert sandbox.parse(files["docx"]).sections[1].title == "Payment terms"


def test_timeout_kills_only_that_worker(sandbox: ParseSandbox, files: dict[str, Path]) -> None:
    with pytest.raises(ParseTimeout, match=r"Reading long\.pdf took longer than 0\.001 s"):
        sandbox.parse(files["long"], limits=ParseLimits(timeout_s=0.001))
    assert _pages(sandbox.parse(files["chapters"])) == [1, 2, 3, 4]


def test_memory_limit_stops_a_greedy_parse(
    sandbox: ParseSandbox, files: dict[str, Path], tmp_path: Path
) -> None:
    big = tmp_path / "big.txt"
    big.write_text("many words in a large text file\n" * 200_000)  # ~6 MB
    with pytest.raises(ParseResourceLimit, match=r"big\.txt is too big to read safely"):
        sandbox.parse(big, limits=ParseLimits(memory_bytes=1024 * 1024))
    assert sandbox.parse(big).kind == "text"


def test_too_many_pages_is_refused_in_the_worker(
    sandbox: ParseSandbox, files: dict[str, Path]
) -> None:
    with pytest.raises(ParseResourceLimit, match="60 pages, over the limit of 10"):
        sandbox.parse(files["long"], limits=ParseLimits(max_pages=10))
    assert _pages(sandbox.parse(files["chapters"])) == [1, 2, 3, 4]


def test_size_limit_is_checked_before_anything_is_read(
    sandbox: ParseSandbox, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as file:
        file.truncate(10 * 1024 * 1024)
    with pytest.raises(FileTooLarge, match=r"huge\.pdf is 10\.0 MB, over the 5\.0 MB limit"):
        sandbox.parse(huge, limits=ParseLimits(max_file_bytes=5 * 1024 * 1024))


def test_a_segfaulting_parser_fails_only_its_file(
    files: dict[str, Path], tmp_path: Path, crashing_parser: Any
) -> None:
    crash = tmp_path / "crash.pdf"
    crash.write_bytes(files["chapters"].read_bytes())
    with ParseSandbox(workers=1, parser=crashing_parser) as pool:
        assert _pages(pool.parse(files["chapters"])) == [1, 2, 3, 4]
        with pytest.raises(CorruptDocument, match="it crashed the reader") as caught:
            pool.parse(crash)
        assert caught.value.name == "crash.pdf"
        assert _pages(pool.parse(files["chapters"])) == [1, 2, 3, 4]


async def test_one_upload_of_several_files_fails_only_the_bad_ones(
    files: dict[str, Path],
) -> None:
    names = ["chapters", "bomb", "docx", "truncated", "encrypted"]
    with ParseSandbox(workers=2) as pool:
        results = await asyncio.gather(
            *(pool.parse_async(files[name]) for name in names), return_exceptions=True
        )
    outcome = dict(zip(names, results, strict=True))
    assert isinstance(outcome["chapters"], ParsedDocument)
    assert isinstance(outcome["docx"], ParsedDocument)
    assert isinstance(outcome["bomb"], ParseResourceLimit)
    assert isinstance(outcome["truncated"], CorruptDocument)
    assert isinstance(outcome["encrypted"], EncryptedDocument)


async def test_async_progress_arrives_on_the_event_loop(files: dict[str, Path]) -> None:
    loop = asyncio.get_running_loop()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        assert asyncio.get_running_loop() is loop
        seen.append((done, total))

    document = await parse_in_sandbox_async(files["chapters"], progress=progress)
    await asyncio.sleep(0)  # let the last scheduled callback run
    assert _pages(document) == [1, 2, 3, 4]
    assert seen[-1] == (4, 4)


async def test_cancelling_an_upload_stops_its_parse(files: dict[str, Path]) -> None:
    with ParseSandbox(workers=1) as pool:
        started = asyncio.Event()
        task = asyncio.create_task(
            pool.parse_async(files["long"], progress=lambda done, total: started.set())
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _pages(await pool.parse_async(files["chapters"])) == [1, 2, 3, 4]


def test_a_closed_sandbox_says_so(files: dict[str, Path]) -> None:
    pool = ParseSandbox(workers=1)
    pool.close()
    with pytest.raises(ParserUnavailable, match="could not start"):
        pool.parse(files["chapters"])
