"""Password login, revocation and the first admin, against a real server and the real CLI."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import chainlit as cl
import httpx
import jwt
import pytest
import socketio

from tests.auth.helpers import add_user, cadre, get, post
from tests.support.chainlit_client import ChainlitClient
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    RunningServer,
    cadre_server,
    login_cookie,
)

pytestmark = pytest.mark.slow  # starts servers

THREADS = {"pagination": {"first": 20, "cursor": None}, "filter": {}}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[RunningServer]:
    # Not waiting for the model: logins work while it loads, and the throttle test reads
    # the log, so a line written during the load must be kept (llama.cpp once pointed the
    # process's stderr at /dev/null while loading; see agents/models/local/llama_log.py).
    with cadre_server(data_dir, wait_ready=False) as running:
        yield running


def _as(cookie: str) -> dict[str, str]:
    return {"Cookie": cookie}


def _user(server: RunningServer, cookie: str) -> httpx.Response:
    return get(f"{server.url}/user", headers=_as(cookie))


def test_a_user_logs_in_with_the_right_password_only(server: RunningServer, data_dir: Path) -> None:
    add_user(data_dir, "carol", "carol-password")

    wrong = post(
        f"{server.url}/login",
        data={"username": "carol", "password": "nope-nope"},
    )
    unknown = post(f"{server.url}/login", data={"username": "nobody", "password": "x" * 9})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()  # the answer never tells which names exist
    assert "access_token" not in wrong.cookies

    me = _user(server, server.login("carol", "carol-password"))
    assert me.status_code == 200
    assert me.json()["identifier"] == "carol"
    assert me.json()["metadata"]["role"] == "member"


def test_repeated_failures_pause_logins_for_that_name(
    server: RunningServer, data_dir: Path
) -> None:
    add_user(data_dir, "ivan", "ivan-password")
    for _ in range(10):
        guess = post(f"{server.url}/login", data={"username": "ivan", "password": "guess-guess"})
        assert guess.status_code == 401
        assert "access_token" not in guess.cookies
    right = post(f"{server.url}/login", data={"username": "ivan", "password": "ivan-password"})
    assert right.status_code == 401  # paused, even with the right password
    deadline = time.monotonic() + 30  # the log line is written as the refusal is answered
    while "login for 'ivan' from" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    refusals = [line for line in server.log_text().splitlines() if "too many failures" in line]
    assert any("login for 'ivan' from" in line for line in refusals), server.log_text()[-4000:]
    assert _user(server, server.login("carol", "carol-password")).status_code == 200


def test_the_first_admin_comes_from_settings_once(server: RunningServer, data_dir: Path) -> None:
    me = _user(server, server.login()).json()
    assert me["identifier"] == ADMIN_USER
    assert me["metadata"]["role"] == "admin"
    listing = cadre(data_dir, "users", "list")
    assert listing.returncode == 0, listing.stderr
    admins = [line for line in listing.stdout.splitlines() if " admin " in line]
    assert [line.split()[0] for line in admins] == [ADMIN_USER]


def test_the_signing_secret_is_private_and_kept(data_dir: Path, server: RunningServer) -> None:
    secret_file = data_dir / "auth_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_text().strip()) >= 32


def test_a_disabled_users_cookie_stops_at_the_next_request(
    server: RunningServer, data_dir: Path
) -> None:
    add_user(data_dir, "dave", "dave-password")
    cookie = server.login("dave", "dave-password")
    assert _user(server, cookie).status_code == 200
    assert post(f"{server.url}/project/threads", json=THREADS, headers=_as(cookie)).is_success

    assert cadre(data_dir, "users", "disable", "dave").returncode == 0

    me = _user(server, cookie)
    assert me.status_code == 401
    assert (
        'access_token=""' in me.headers["set-cookie"]
        or "access_token=;" in me.headers["set-cookie"]
    )
    threads = post(f"{server.url}/project/threads", json=THREADS, headers=_as(cookie))
    assert threads.status_code == 401
    token = cookie.split("=", 1)[1]
    bearer = get(f"{server.url}/user", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401
    relogin = post(
        f"{server.url}/login",
        data={"username": "dave", "password": "dave-password"},
    )
    assert relogin.status_code == 401

    assert cadre(data_dir, "users", "enable", "dave").returncode == 0
    assert _user(server, cookie).status_code == 401  # tokens from before stay revoked
    # Logging in again while the browser still holds the stale cookie gives a working one.
    again = post(
        f"{server.url}/login",
        data={"username": "dave", "password": "dave-password"},
        headers=_as(cookie),
    )
    assert again.status_code == 200
    assert again.headers.get_list("set-cookie")[-1].startswith("access_token=ey")
    assert _user(server, f"access_token={again.cookies['access_token']}").status_code == 200


async def test_a_disabled_users_socket_is_cut_and_cannot_reconnect(
    server: RunningServer, data_dir: Path
) -> None:
    add_user(data_dir, "erin", "erin-password")
    cookie = login_cookie(server.url, "erin", "erin-password")
    chat = ChainlitClient(server.url, cookie=cookie)
    await chat.connect()
    try:
        assert cadre(data_dir, "users", "disable", "erin").returncode == 0
        await chat.send("Hello?")  # the next event is checked against the user row
        sent_at = len(chat.events)
        await asyncio.wait_for(chat.disconnected.wait(), 30)
        assert [e.name for e in chat.events[sent_at:]] == []  # the message was never handled
    finally:
        await chat.close()

    again = ChainlitClient(server.url, cookie=cookie, session_id=chat.session_id)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.connect()
    await again.close()


def test_a_new_password_ends_the_old_sessions(server: RunningServer, data_dir: Path) -> None:
    add_user(data_dir, "frank", "frank-password")
    cookie = server.login("frank", "frank-password")
    changed = cadre(
        data_dir, "users", "set-password", "frank", "--password-stdin", stdin="frank-new-pass\n"
    )
    assert changed.returncode == 0, changed.stderr
    assert _user(server, cookie).status_code == 401
    with pytest.raises(httpx.HTTPStatusError):
        server.login("frank", "frank-password")
    assert _user(server, server.login("frank", "frank-new-pass")).status_code == 200


def test_a_signed_token_for_an_unknown_user_is_refused(
    server: RunningServer, data_dir: Path
) -> None:
    secret = (data_dir / "auth_secret").read_text().strip()
    user = cl.User(identifier="ghost", metadata={"role": "admin"})
    token = jwt.encode(
        {**user.to_dict(), "exp": int(time.time()) + 600, "iat": int(time.time())},
        secret,
        algorithm="HS256",
    )
    assert _user(server, f"access_token={token}").status_code == 401
    listing = cadre(data_dir, "users", "list").stdout
    assert "ghost" not in listing  # and no account was made for it


def test_login_survives_a_restart(tmp_path: Path) -> None:
    with cadre_server(tmp_path, wait_ready=False) as first:
        cookie = first.login()
    with cadre_server(tmp_path, wait_ready=False, CADRE_ADMIN_USER="someone-else") as second:
        assert _user(second, cookie).status_code == 200  # the secret was kept
        assert second.login(ADMIN_USER, ADMIN_PASSWORD)
    listing = cadre(tmp_path, "users", "list").stdout
    assert "someone-else" not in listing  # an admin existed, so none was created


def test_cli_refuses_bad_input(tmp_path: Path) -> None:
    short = cadre(tmp_path, "users", "add", "gina", "--password-stdin", stdin="short\n")
    assert short.returncode == 1
    assert "at least 8 characters" in short.stderr
    bad_name = cadre(tmp_path, "users", "add", "../x", "--password-stdin", stdin="long-enough\n")
    assert bad_name.returncode == 1
    assert "not allowed" in bad_name.stderr
    add_user(tmp_path, "gina", "gina-password")
    twice = cadre(tmp_path, "users", "add", "gina", "--password-stdin", stdin="gina-password\n")
    assert twice.returncode == 1
    assert "already exists" in twice.stderr
    missing = cadre(tmp_path, "users", "disable", "nobody")
    assert missing.returncode == 1
    assert "cadre users list" in missing.stderr
    no_tty = cadre(tmp_path, "users", "add", "hank")
    assert no_tty.returncode == 2
    assert "--password-stdin" in no_tty.stderr
    bad_role = cadre(tmp_path, "users", "set-role", "gina", "owner")
    assert bad_role.returncode == 1
    assert "admin, member" in bad_role.stderr
    assert cadre(tmp_path, "users", "set-role", "gina", "admin").returncode == 0
    assert "gina                             admin" in cadre(tmp_path, "users", "list").stdout
    upgraded = cadre(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0
    assert "revision" in upgraded.stdout
