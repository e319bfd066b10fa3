"""Environments for processes started by tests."""

from __future__ import annotations

import os
from pathlib import Path

NETGUARD = Path(__file__).resolve().parent.parent / "netguard"
SHARED_MODELS = "CADRE_TEST_MODEL_CACHE"
"""Environment variable naming the model cache shared by the test process and its servers."""


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a server under test: the same network guard, offline models."""
    # Only what the test passes configures Cadre and Chainlit (a developer's shell may
    # hold CHAINLIT_AUTH_SECRET: each test server makes its own secret in its data dir).
    shared_models = os.environ.get(SHARED_MODELS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CADRE_", "CHAINLIT_"))}
    if shared_models:
        # Every test server reuses one assembled copy of the bundled models (1 GB, verified).
        env["CADRE_MODEL_DIR"] = shared_models
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NETGUARD), env.get("PYTHONPATH")]))
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"  # tests read the server's log while it runs
    env.update(extra)
    return env
