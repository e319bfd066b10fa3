"""Find a PostgreSQL server for the tests, or start a throwaway one; say why when neither works."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

_LOCAL = "127.0.0.1"


async def _can_connect(user: str, port: int, database: str, host: str = _LOCAL) -> bool:
    try:
        conn = await asyncpg.connect(host=host, port=port, user=user, database=database, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def _existing_server() -> tuple[str, int] | None:
    """(user, port) of the server on 127.0.0.1:5432 with trust auth, if there is one."""
    for user in ("postgres", "root", os.environ.get("USER") or "postgres"):
        if asyncio.run(_can_connect(user, 5432, "test")):
            return user, 5432
        if asyncio.run(_can_connect(user, 5432, "postgres")):
            return user, 5432
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_LOCAL, 0))
        return int(sock.getsockname()[1])


@contextmanager
def _throwaway_cluster() -> Iterator[tuple[str, int] | str]:
    """Start a cluster from Debian's postgresql binaries; yields (user, port) or why not."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        yield "no PostgreSQL server on 127.0.0.1:5432 and no /usr/lib/postgresql/*/bin/initdb"
        return
    bindir = Path(bins[-1]).parent
    workdir = Path(tempfile.mkdtemp(prefix="cadre-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            yield "running as root and runuser is missing, so initdb cannot start a cluster"
            return
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(workdir, "postgres")
    data, port = workdir / "data", _free_port()
    user = "postgres" if prefix else (os.environ.get("USER") or "postgres")
    try:
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(workdir / "log"),
                "-o",
                f"-p {port} -k {workdir} -c listen_addresses={_LOCAL} -c fsync=off",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        yield f"could not start a throwaway PostgreSQL cluster: {exc}"
        return
    try:
        yield user, port
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[tuple[str, int] | str]:
    """(user, port) of a usable server for this test session, or the reason there is none."""
    found = _existing_server()
    if found is not None:
        yield found
        return
    with _throwaway_cluster() as started:
        yield started


async def _admin(user: str, port: int) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(host=_LOCAL, port=port, user=user, database="postgres")
    except asyncpg.InvalidCatalogNameError:
        return await asyncpg.connect(host=_LOCAL, port=port, user=user, database="test")


async def create_database(user: str, port: int) -> str:
    """A new, empty database with a random name; returns its asyncpg URL."""
    name = f"cadre_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin(user, port)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://{user}@{_LOCAL}:{port}/{name}"


async def drop_database(url: str) -> None:
    """Drop a database `create_database` made, closing whatever still uses it."""
    rest = url.split("://", 1)[1]
    user, rest = rest.split("@", 1)
    hostport, name = rest.split("/", 1)
    port = int(hostport.split(":")[1])
    admin = await _admin(user, port)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
