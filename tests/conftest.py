"""Test-wide rules: no model hub, no network beyond loopback (here and in test servers);
in CI, a missing runtime, browser or database fails the run instead of skipping."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.env import NETGUARD, SHARED_MODELS

# Install the socket guard in this process; test servers get it through PYTHONPATH.
_spec = importlib.util.spec_from_file_location("cadre_netguard", NETGUARD / "sitecustomize.py")
assert _spec is not None
assert _spec.loader is not None
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def model_cache() -> Iterator[str]:
    """A converted-weights cache shared by the whole run (conversion happens once)."""
    if preset := os.environ.get("CADRE_TEST_MODEL_CACHE"):
        yield preset  # a developer's cache survives between runs
        return
    path = tempfile.mkdtemp(prefix="cadre-models-")
    os.environ[SHARED_MODELS] = path  # test servers started from now on share it
    yield path
    del os.environ[SHARED_MODELS]
    shutil.rmtree(path, ignore_errors=True)  # converted weights are hundreds of MB


@pytest.fixture(scope="session", autouse=True)
def _shared_models(model_cache: str) -> str:
    """Create the shared model cache before any test server starts."""
    return model_cache


STRICT = bool(os.environ.get("CI") or os.environ.get("CADRE_STRICT_TESTS"))
"""CI (`CI` or `CADRE_STRICT_TESTS` set, as .ci/run does): skips for a missing install fail,
and so do those for a missing network namespace (the proof that nothing leaves the machine)."""
_MISSING_INSTALL = re.compile(r"postgres|chromium|llama[-_. ]?cpp|network namespace", re.IGNORECASE)


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr: Any = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_if_install_missing(report: pytest.TestReport | pytest.CollectReport) -> None:
    """On a developer's machine such a skip says what to install; in CI it would hide a
    broken install (the tests that need it would never run), so there it is a failure."""
    if not (STRICT and report.skipped):
        return
    reason = _skip_reason(report)
    if _MISSING_INSTALL.search(reason):
        report.outcome = "failed"
        report.longrepr = f"CI must have every runtime, browser and database: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    _fail_if_install_missing(outcome.get_result())  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    _fail_if_install_missing(outcome.get_result())  # type: ignore[attr-defined]
