"""Helpers: `cadre …` commands as an admin runs them; HTTP calls patient with a busy machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.env import subprocess_env
from tests.support.server import REPO_ROOT


def cadre(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`cadre ARGS` with `--data-dir`-equivalent settings; output captured, never raising."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO_ROOT,
        env=subprocess_env(CADRE_DATA_DIR=str(data_dir)),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def add_user(data_dir: Path, name: str, password: str, *, admin: bool = False) -> None:
    """`cadre users add NAME --password-stdin`, which must succeed."""
    flags = ["--admin"] if admin else []
    done = cadre(data_dir, "users", "add", name, *flags, "--password-stdin", stdin=password + "\n")
    assert done.returncode == 0, done.stderr


TIMEOUT = 60.0
"""Seconds an HTTP call may take: the test machine is shared and often busy."""


def get(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.get` with a patient timeout and no cookie jar."""
    return httpx.get(url, timeout=TIMEOUT, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.post` with a patient timeout and no cookie jar."""
    return httpx.post(url, timeout=TIMEOUT, **kwargs)


def put(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.put` with a patient timeout and no cookie jar."""
    return httpx.put(url, timeout=TIMEOUT, **kwargs)


def delete(url: str, **kwargs: Any) -> httpx.Response:
    """An HTTP DELETE (with a JSON body, as Chainlit's routes take) and a patient timeout."""
    return httpx.request("DELETE", url, timeout=TIMEOUT, **kwargs)
