"""Run a real Cadre server (uvicorn, in a subprocess) on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.env import subprocess_env

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"
"""The admin every test server creates at its first start (CADRE_ADMIN_USER/PASSWORD)."""
MEMBER = ("max", "max-password-123")
"""A member's name and password, for tests that add one (`add_user(data, *MEMBER)`)."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A started server: where to reach it and its log."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(errors="replace")

    async def logged(self, text: str, timeout: float = 30) -> None:  # noqa: ASYNC109
        """Wait until the server's log contains `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never logged:\n{self.log_text()[-2000:]}")
            await asyncio.sleep(0.1)

    def login(self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> str:
        """Log in through `POST /login`; returns the `Cookie` header value to send."""
        return login_cookie(self.url, username, password)


def login_cookie(url: str, username: str, password: str) -> str:
    """The auth cookie (`access_token=...`) from logging in at `url` with a password."""
    response = httpx.post(
        f"{url}/login", data={"username": username, "password": password}, timeout=60
    )
    response.raise_for_status()
    token = response.cookies.get("access_token")
    if not token:
        raise RuntimeError(f"login as {username} set no cookie: {response.text}")
    return f"access_token={token}"


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s:\n{log.read_text(errors='replace')}")


@contextmanager
def cadre_server(
    data_dir: Path, *, wait_ready: bool = True, log_name: str = "server.log", **env: str
) -> Iterator[RunningServer]:
    """Start `cadre serve` with its data in `data_dir`; stop it afterwards.

    The server creates `ADMIN_USER` (password `ADMIN_PASSWORD`) at its first start unless
    `env` says otherwise; `RunningServer.login()` returns that user's cookie. Its output goes
    to `data_dir / log_name` (servers sharing a data folder each need their own).
    """
    env = {"CADRE_ADMIN_USER": ADMIN_USER, "CADRE_ADMIN_PASSWORD": ADMIN_PASSWORD, **env}
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / log_name
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--log-level", "warning"],
            cwd=REPO_ROOT,
            env=subprocess_env(CADRE_DATA_DIR=str(data_dir), **env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/healthz", process, log, timeout=60)
        if wait_ready:
            _wait_for(f"{url}/readyz", process, log, timeout=300)
        yield RunningServer(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
