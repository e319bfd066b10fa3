"""One real server per test module, and a signed-in chat client per test.

A module may set `SERVER_ENV` (a dict of `CADRE_*` settings) to run its server differently;
by default decoding is greedy, which keeps the small model's answers repeatable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.models.openai_server import FakeOpenAI, fake_openai
from tests.support.chainlit_client import ChainlitClient
from tests.support.server import RunningServer, cadre_server

DEFAULT_ENV = {"CADRE_TEMPERATURE": "0"}


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    env = {**DEFAULT_ENV, **getattr(request.module, "SERVER_ENV", {})}
    with cadre_server(tmp_path_factory.mktemp("data"), **env) as running:
        yield running


@pytest.fixture(scope="module")
def remote() -> Iterator[FakeOpenAI]:
    """A server speaking OpenAI's protocol, scripted by the module's tests."""
    with fake_openai() as running:
        yield running


@pytest.fixture
def page(server: RunningServer) -> Iterator[Any]:
    """A Playwright page in a fresh headless Chromium that may reach only the test server."""
    from tests.support.browser import browser_page

    with browser_page(server) as opened:
        yield opened


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[ChainlitClient]:
    chat = ChainlitClient(server.url)
    await chat.connect()
    yield chat
    await chat.close()
