"""Run the `cadre` command against a data folder, as a person would in a shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.env import subprocess_env
from tests.support.server import REPO_ROOT


def cadre(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`cadre ARGS` with its data in `data`; the finished process (output as text)."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO_ROOT,
        env=subprocess_env(CADRE_DATA_DIR=str(data)),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def add_user(data: Path, name: str, password: str = "a-long-password-1") -> None:
    """`cadre users add NAME --password-stdin`, failing the test if it fails."""
    added = cadre(data, "users", "add", name, "--password-stdin", stdin=f"{password}\n")
    assert added.returncode == 0, added.stderr


def new_api_key(data: Path, user: str) -> str:
    """`cadre keys create USER`: the key it printed (once)."""
    made = cadre(data, "keys", "create", user, "--name", "tests")
    assert made.returncode == 0, made.stderr
    assert "cannot show it again" in made.stderr
    return made.stdout.strip()
