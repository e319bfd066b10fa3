"""Admin-only entry points check the role in the database, whatever the session claims."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import chainlit as cl
import httpx
import pytest
from chainlit.context import init_http_context
from fastapi import FastAPI

from app.auth import Forbidden
from app.auth.users import UserDirectory
from app.chat.roles import require_role
from app.db import database_url, migrate
from app.db.sessions import EngineSessions


@pytest.fixture
async def users(tmp_path: Path) -> AsyncIterator[UserDirectory]:
    url = database_url(tmp_path)
    await migrate(url)
    sessions = EngineSessions(url)
    directory = UserDirectory(sessions)
    await directory.add("ada", "ada-password", role="admin")
    await directory.add("max", "max-password")
    yield directory
    await sessions.close()


def _session_as(identifier: str, claimed_role: str) -> None:
    # What the socket session carries: the metadata from login time, or anything crafted.
    init_http_context(user=cl.User(identifier=identifier, metadata={"role": claimed_role}))


async def test_only_admins_run_admin_actions(users: UserDirectory) -> None:
    runs: list[str] = []

    @require_role("admin", directory=lambda: users)
    async def purge_cache(action_name: str) -> str:
        runs.append(action_name)
        return "done"

    _session_as("ada", "admin")
    assert await purge_cache("purge") == "done"

    _session_as("max", "admin")  # a member whose session claims admin
    with pytest.raises(Forbidden):
        await purge_cache("purge")

    await users.set_role("ada", "member")  # demoted while logged in
    _session_as("ada", "admin")
    with pytest.raises(Forbidden):
        await purge_cache("purge")

    await users.set_role("ada", "admin")
    await users.disable("ada")
    with pytest.raises(Forbidden):
        await purge_cache("purge")

    init_http_context(user=None)
    with pytest.raises(Forbidden):
        await purge_cache("purge")
    assert runs == ["purge"]


async def test_members_run_member_actions(users: UserDirectory) -> None:
    @require_role("member", directory=lambda: users)
    async def summarize() -> str:
        return "ok"

    _session_as("max", "member")
    assert await summarize() == "ok"
    _session_as("ada", "admin")
    assert await summarize() == "ok"  # admins can do what members can
    _session_as("nobody", "admin")
    with pytest.raises(Forbidden):
        await summarize()


async def test_a_refusal_is_an_http_403(users: UserDirectory) -> None:
    @require_role("admin", directory=lambda: users)
    async def rotate_keys() -> str:
        return "rotated"

    api = FastAPI()

    @api.post("/rotate")
    async def rotate() -> dict[str, str]:
        _session_as("max", "admin")
        return {"result": await rotate_keys()}

    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/rotate")
    assert response.status_code == 403
    assert response.json() == {"detail": "this needs the admin role"}


def test_every_action_the_web_app_registers_checks_a_role_and_admin_ones_need_admin() -> None:
    # `POST /project/action` runs any registered callback for anyone with a session: each
    # must check the caller's row (functions defined in a test prove nothing about the app).
    from chainlit.config import config

    import app.chat.handlers  # noqa: F401 (registers the app's callbacks, as the server does)
    from app.chat import documents, operators

    registered = config.code.action_callbacks
    roles = {name: getattr(func, "required_role", None) for name, func in registered.items()}
    assert roles[documents.DELETE_ACTION] == "member"
    admin_actions = {
        operators.NEW_ACTION,
        operators.EDIT_ACTION,
        operators.ENABLE_ACTION,
        operators.DISABLE_ACTION,
        operators.DELETE_ACTION,
        operators.MODEL_ACTION,
    }
    assert {name for name, role in roles.items() if role == "admin"} >= admin_actions
    unchecked = sorted(name for name, role in roles.items() if role not in ("admin", "member"))
    assert unchecked == [], f"action callbacks without require_role: {unchecked}"
