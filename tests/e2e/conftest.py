"""One real server per test module, and a signed-in chat client per test.

A module may set `SERVER_ENV` (a dict of `CADRE_*` settings) to run its server differently;
by default decoding is greedy, which keeps the small model's answers repeatable. With
`ON_FAKE_OPENAI = True` its chat model is `openai:test-model` on the module's `remote` (a
scripted OpenAI-protocol server); with `WITH_MEMBER = True` the server also has the member
`MEMBER`, whose chat client is the `member` fixture (the admin's is `client` or `admin`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.models.openai_server import FakeOpenAI, fake_openai
from tests.support.chainlit_client import ChainlitClient, login
from tests.support.cli import add_user
from tests.support.server import MEMBER, RunningServer, cadre_server

DEFAULT_ENV = {"CADRE_TEMPERATURE": "0"}


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    env = {**DEFAULT_ENV, **getattr(request.module, "SERVER_ENV", {})}
    if getattr(request.module, "ON_FAKE_OPENAI", False):
        remote: FakeOpenAI = request.getfixturevalue("remote")
        env.update(CADRE_OPENAI_BASE_URL=remote.url, CADRE_CHAT_MODEL="openai:test-model")
    data = tmp_path_factory.mktemp("data")
    with cadre_server(data, **env) as running:
        if getattr(request.module, "WITH_MEMBER", False):
            add_user(data, *MEMBER)
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
    """The admin's chat, connected."""
    chat = ChainlitClient(server.url)
    await chat.connect()
    yield chat
    await chat.close()


@pytest.fixture
async def admin(client: ChainlitClient) -> ChainlitClient:
    """The admin's chat, where the test reads better with the role named."""
    return client


@pytest.fixture
async def member(server: RunningServer) -> AsyncIterator[ChainlitClient]:
    """The member's chat (the module sets `WITH_MEMBER = True`)."""
    chat = ChainlitClient(server.url, cookie=await login(server.url, *MEMBER))
    await chat.connect()
    yield chat
    await chat.close()
