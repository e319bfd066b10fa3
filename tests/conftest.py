"""Test-wide rules: no model hub, no network beyond loopback (here and in test servers)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator

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
