"""SQLite under load: 50 concurrent writers lose nothing, never see "database is locked", and
a writer killed mid-write leaves a sound database with every commit it reported."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import chainlit as cl
import pytest
from sqlalchemy import func, select

from app.db import Step, Thread, migrate
from app.db.chainlit_data.layer import CadreDataLayer
from tests.db.writer import write

REPO = Path(__file__).resolve().parents[2]
WRITERS = 50
STEPS = 10


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "cadre.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


def url_of(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute(sql).fetchall()


def check_sound(path: Path) -> None:
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert rows(path, "PRAGMA foreign_key_check") == []


def writer_process(
    path: Path, files: Path, prefix: str, writers: int, steps: int
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("writer.py")),
            url_of(path),
            str(files),
            prefix,
            str(writers),
            str(steps),
        ],
        cwd=files.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_fifty_concurrent_tasks_on_one_layer(db_file: Path, tmp_path: Path) -> None:
    layer = CadreDataLayer.from_url(url_of(db_file), tmp_path / "files")
    try:
        user = await layer.create_user(cl.User(identifier="load"))
        assert user is not None
        written = await asyncio.gather(
            *(write(layer, user.id, "task", w, STEPS) for w in range(WRITERS))
        )
        async with layer.reading() as session:
            assert await session.scalar(select(func.count()).select_from(Thread)) == WRITERS
            assert await session.scalar(select(func.count()).select_from(Step)) == sum(written)
    finally:
        await layer.close()
    assert sum(written) == WRITERS * STEPS
    check_sound(db_file)


def test_fifty_threads_with_their_own_engines(db_file: Path, tmp_path: Path) -> None:
    errors: list[BaseException] = []

    async def one(w: int) -> None:
        layer = CadreDataLayer.from_url(url_of(db_file), tmp_path / "files")
        try:
            user = await layer.create_user(cl.User(identifier=f"thread-{w}"))
            assert user is not None
            await write(layer, user.id, "thread", w, STEPS)
        finally:
            await layer.close()

    def run(w: int) -> None:
        try:
            asyncio.run(one(w))
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert rows(db_file, "SELECT count(*) FROM threads") == [(WRITERS,)]
    assert rows(db_file, "SELECT count(*) FROM steps") == [(WRITERS * STEPS,)]
    check_sound(db_file)


@pytest.mark.slow
def test_fifty_writers_in_five_processes(db_file: Path, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    procs = [writer_process(db_file, files, f"proc{p}", WRITERS // 5, STEPS) for p in range(5)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "database is locked" not in err
        assert out.splitlines()[-1] == "done"
    assert rows(db_file, "SELECT count(*) FROM threads") == [(WRITERS,)]
    assert rows(db_file, "SELECT count(*) FROM steps") == [(WRITERS * STEPS,)]
    check_sound(db_file)


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_every_commit_and_a_sound_file(
    db_file: Path, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    proc = writer_process(db_file, files, "victim", 8, 0)  # writes until killed
    assert proc.stdout is not None
    committed: list[str] = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if line.startswith("committed "):
            committed.append(line.split()[1])
        if len(committed) >= 200 or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate(timeout=60)
    committed += [ln.split()[1] for ln in rest.splitlines() if ln.startswith("committed ")]
    assert proc.returncode == -signal.SIGKILL
    assert len(committed) >= 200

    check_sound(db_file)
    stored = {row[0] for row in rows(db_file, "SELECT id FROM steps")}
    assert set(committed) <= stored
    # The database still takes writes after the crash (the WAL is recovered, no stale lock).
    survivor = writer_process(db_file, files, "after", 2, 5)
    _, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err
    check_sound(db_file)
