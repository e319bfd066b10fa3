"""`cadre search` as a separate process: wall time and peak RSS, one source tree against another.

Each variant is a checkout of Cadre (`LABEL=PATH`, e.g. `before=/tmp/cadre-before` made with
`git worktree add` or `git archive`) run with this virtualenv's interpreter and its folder first
on `PYTHONPATH`, so the same data folder, models and packages serve every variant and only the
code differs. The variants take turns run by run (after one warm-up each), so a load change on
a shared machine falls on all of them alike; the table gives the median and range of the wall
time, the median CPU time (user + system, less sensitive to other load) and the largest peak
RSS (the child's `ru_maxrss`).

The data folder must hold a user and ingested documents (`cadre users add`, `cadre ingest`);
the bundled embedder's ONNX export must be verified (an ingest does it).

    CADRE_DATA_DIR=/tmp/search-data .venv/bin/python bench/search_startup.py \\
        before=/tmp/cadre-before after=. [--runs 7] [--query "..."] [--mode hybrid]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

_ENTRY = "from app.cli.main import main; main()"


def _run_once(tree: Path, args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (bytes) of one `cadre search`."""
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()), HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    child = subprocess.Popen(
        # -P: the working directory is not put before PYTHONPATH, so `tree` is the code run.
        [sys.executable, "-P", "-c", _ENTRY, "search", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        err = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"cadre search from {tree} failed ({child.returncode}): {err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="LABEL=PATH of a Cadre source tree")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--query", default="how are scanned pages read")
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "vector", "fulltext"])
    parser.add_argument("-k", type=int, default=8)
    opts = parser.parse_args()
    variants = [(label, Path(path)) for label, _, path in (v.partition("=") for v in opts.variants)]
    args = [opts.query, "-k", str(opts.k), "--mode", opts.mode]
    for _, tree in variants:
        _run_once(tree, args)  # warm-up: page cache, .pyc files
    walls: dict[str, list[float]] = {label: [] for label, _ in variants}
    cpus: dict[str, list[float]] = {label: [] for label, _ in variants}
    peaks: dict[str, int] = {label: 0 for label, _ in variants}
    for _ in range(opts.runs):
        for label, tree in variants:
            wall, cpu, rss = _run_once(tree, args)
            walls[label].append(wall)
            cpus[label].append(cpu)
            peaks[label] = max(peaks[label], rss)
    print(f"`cadre search {opts.query!r} -k {opts.k} --mode {opts.mode}`, {opts.runs} runs each\n")
    print("| | runs | median wall | range | median CPU | peak RSS |\n|---|---|---|---|---|---|")
    for label, _ in variants:
        times = walls[label]
        print(
            f"| {label} | {len(times)} | {statistics.median(times):.2f} s "
            f"| {min(times):.2f}–{max(times):.2f} s | {statistics.median(cpus[label]):.2f} s "
            f"| {peaks[label] / 1e9:.2f} GB |"
        )


if __name__ == "__main__":
    main()
