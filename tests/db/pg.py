"""Find a PostgreSQL server for the tests, or start a throwaway one; say why when neither works.

The host's server is tried on 127.0.0.1:5432, then over its Unix socket: inside the test
run's network namespace (tests/netguard/isolated) the host's loopback is out of reach, but
its socket file is not.
"""

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
from typing import NamedTuple

import asyncpg
from sqlalchemy.engine import make_url

_LOCAL = "127.0.0.1"
_SOCKET_DIRS = ("/var/run/postgresql", "/run/postgresql", "/tmp")  # Debian, then others


class PgServer(NamedTuple):
    """Where a usable server listens: `host` is an address or a Unix socket folder."""

    user: str
    port: int
    host: str = _LOCAL


def url_for(server: PgServer, database: str) -> str:
    """The asyncpg URL of `database` on `server`."""
    if server.host.startswith("/"):
        return (
            f"postgresql+asyncpg://{server.user}@/{database}?host={server.host}&port={server.port}"
        )
    return f"postgresql+asyncpg://{server.user}@{server.host}:{server.port}/{database}"


async def _can_connect(user: str, port: int, database: str, host: str = _LOCAL) -> bool:
    try:
        conn = await asyncpg.connect(host=host, port=port, user=user, database=database, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def _existing_server() -> PgServer | None:
    """The host's server on 127.0.0.1:5432 or its Unix socket, with trust auth, if any."""
    hosts = [_LOCAL, *(d for d in _SOCKET_DIRS if Path(d, ".s.PGSQL.5432").exists())]
    for host in hosts:
        for user in ("postgres", "root", os.environ.get("USER") or "postgres"):
            for database in ("test", "postgres"):
                if asyncio.run(_can_connect(user, 5432, database, host)):
                    return PgServer(user, 5432, host)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_LOCAL, 0))
        return int(sock.getsockname()[1])


@contextmanager
def _throwaway_cluster(where: Path | None = None) -> Iterator[PgServer | str]:
    """Start a cluster from Debian's postgresql binaries; yields (user, port) or why not.

    Its files go in a new folder, inside `where` when given (a small disk a test fills)."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        yield "no PostgreSQL server on 127.0.0.1:5432 and no /usr/lib/postgresql/*/bin/initdb"
        return
    bindir = Path(bins[-1]).parent
    workdir = Path(tempfile.mkdtemp(prefix="cadre-pg-", dir=where))
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
        yield PgServer(user, port)
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def cluster_on(disk: Path) -> Iterator[PgServer | str]:
    """A throwaway cluster of its own whose data directory (WAL included) is on `disk`."""
    with _throwaway_cluster(disk) as started:
        yield started


@contextmanager
def postgres_server() -> Iterator[PgServer | str]:
    """A usable server for this test session, or the reason there is none."""
    found = _existing_server()
    if found is not None:
        yield found
        return
    with _throwaway_cluster() as started:
        yield started


async def _admin(user: str, port: int, host: str = _LOCAL) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(host=host, port=port, user=user, database="postgres")
    except asyncpg.InvalidCatalogNameError:
        return await asyncpg.connect(host=host, port=port, user=user, database="test")


async def create_database(user: str, port: int, host: str = _LOCAL) -> str:
    """A new, empty database with a random name; returns its asyncpg URL."""
    name = f"cadre_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin(user, port, host)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url_for(PgServer(user, port, host), name)


async def drop_database(url: str) -> None:
    """Drop a database `create_database` made, closing whatever still uses it."""
    parsed = make_url(url)
    host = str(parsed.query.get("host") or parsed.host or _LOCAL)
    port = int(str(parsed.query.get("port") or parsed.port or 5432))
    name = parsed.database
    admin = await _admin(parsed.username or "postgres", port, host)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
