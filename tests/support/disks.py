"""Small real disks that tests fill up: a tmpfs mounted for the test (root can; CI runs as
root), and a plain file that takes all but a few bytes of it."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import STRICT


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where`; skipped (failed in CI) when mounting is refused."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        why = f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}"
        if STRICT:  # CI runs as root: there a refused mount is a broken runner, not a skip
            pytest.fail(why)
        pytest.skip(why)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def free_bytes(disk: Path) -> int:
    """Bytes an unprivileged write may still take on `disk`."""
    stats = os.statvfs(disk)
    return stats.f_bavail * stats.f_frsize


def fill(disk: Path, leave: int, name: str = "filler") -> Path:
    """Write a file that takes all but `leave` bytes of `disk`."""
    filler = disk / name
    with filler.open("wb") as out:
        chunk = b"\0" * (1 << 20)
        remaining = max(free_bytes(disk) - leave, 0)
        while remaining:
            remaining -= out.write(chunk[: min(len(chunk), remaining)])
    return filler
