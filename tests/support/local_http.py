"""Serve an ASGI app on a free loopback port in a thread: the stand-in servers tests talk to
(model providers, an OpenID provider) through the real client libraries."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from tests.support.server import free_port


@contextmanager
def serving(app: ASGIApp, name: str, port: int | None = None) -> Iterator[str]:
    """Run `app` until the block ends; yields its `http://127.0.0.1:PORT` address."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
