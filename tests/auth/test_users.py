"""Accounts, passwords, the signing secret, token revocation and origins, without a server."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from app.auth import (
    AuthConfigError,
    InvalidUserNameError,
    UnknownUserError,
    UserExistsError,
    WeakPasswordError,
)
from app.auth.origins import OriginPolicy, normalize_origin
from app.auth.passwords import hash_password, needs_rehash, verify_password
from app.auth.secret import CHAINLIT_SECRET_VAR, ensure_auth_secret
from app.auth.socket_guard import check_handshake, is_canonical_uuid
from app.auth.throttle import LoginThrottle
from app.auth.tokens import TOKEN_VERSION, login_user, revocation_reason
from app.auth.users import UserDirectory
from app.db import database_url, migrate
from app.db.limits import EventWindows
from app.db.sessions import EngineSessions
from app.settings import Settings

SECRET = "s" * 48


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return database_url(tmp_path)
    return str(request.getfixturevalue("auth_pg_url"))


@pytest.fixture
async def users(db_url: str) -> AsyncIterator[UserDirectory]:
    url = db_url
    await migrate(url)
    sessions = EngineSessions(url)
    yield UserDirectory(sessions)
    await sessions.close()


def test_passwords_hash_with_argon2id_and_verify() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")
    assert not verify_password(None, "correct horse")
    assert not verify_password("not a hash", "correct horse")
    assert not needs_rehash(stored)
    weaker = "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$H2jG8Sv1jZ4xVKTvK1Zk1A"
    assert needs_rehash(weaker)
    for bad in ["short", " " * 12, "x" * 1025]:
        with pytest.raises(WeakPasswordError):
            hash_password(bad)


async def test_accounts_are_added_once_and_named_safely(users: UserDirectory) -> None:
    added = await users.add("ana.lyst@example.com", "ana-password", display_name="Ana")
    assert (added.role, added.disabled, added.has_password) == ("member", False, True)
    with pytest.raises(UserExistsError):
        await users.add("ana.lyst@example.com", "other-password")
    for bad in ["", "../etc", "a b", "-leading", "x" * 256, "名前"]:
        with pytest.raises(InvalidUserNameError):
            await users.add(bad, "long-enough")
    with pytest.raises(InvalidUserNameError):
        await users.add("bo", "long-enough", role="owner")
    with pytest.raises(UnknownUserError):
        await users.disable("nobody")
    assert [a.identifier for a in await users.list()] == ["ana.lyst@example.com"]


async def test_login_checks_password_and_disabled_flag(users: UserDirectory) -> None:
    await users.add("bo", "bo-password")
    assert await users.check_password("bo", "wrong-password") is None
    assert await users.check_password("nobody", "bo-password") is None
    ok = await users.check_password("bo", "bo-password")
    assert ok is not None
    assert ok.last_login_at is not None
    await users.disable("bo")
    assert await users.check_password("bo", "bo-password") is None
    await users.enable("bo")
    assert await users.check_password("bo", "bo-password") is not None


async def test_first_admin_only_when_none_exists(users: UserDirectory) -> None:
    first = await users.ensure_admin("root", "root-password")
    assert first is not None
    assert first.role == "admin"
    assert await users.ensure_admin("second", "second-password") is None
    assert [a.identifier for a in await users.list()] == ["root"]


async def test_revocation_follows_the_user_row(
    users: UserDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHAINLIT_SECRET_VAR, SECRET)
    account = await users.add("cy", "cy-password")

    def token_for(version: int | None, issued: float | None = None) -> str:
        claims = login_user(account, "password").to_dict()
        if version is None:
            claims["metadata"].pop(TOKEN_VERSION)
        else:
            claims["metadata"][TOKEN_VERSION] = version
        claims["exp"] = int(time.time()) + 60
        if issued is not None:
            claims["iat"] = int(issued)
        return jwt.encode(claims, SECRET, algorithm="HS256")

    fresh = token_for(0, time.time())
    assert await revocation_reason(users, fresh) is None
    assert await revocation_reason(users, "not-a-token") is None  # Chainlit refuses it itself
    await users.revoke_sessions("cy")
    assert await revocation_reason(users, fresh) == "the user's sessions were revoked"
    assert await revocation_reason(users, token_for(1, time.time() - 3600)) is not None
    assert await revocation_reason(users, token_for(1, time.time())) is None
    assert await revocation_reason(users, token_for(None)) is not None
    await users.disable("cy")
    assert await revocation_reason(users, token_for(2, time.time())) == "the user is disabled"


async def test_sso_users_never_replace_password_users(users: UserDirectory) -> None:
    await users.add("dee@example.com", "dee-password")
    assert await users.upsert_sso("dee@example.com", "Dee", "admin") is None
    created = await users.upsert_sso("eve@example.com", "Eve", None)
    assert created is not None
    assert (created.role, created.auth_provider) == ("member", "oidc")
    promoted = await users.upsert_sso("eve@example.com", None, "admin")
    assert promoted is not None
    assert (promoted.role, promoted.display_name) == ("admin", "Eve")
    await users.disable("eve@example.com")
    assert await users.upsert_sso("eve@example.com", "Eve", "admin") is None


def test_the_secret_is_made_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recorded first, so the direct writes below are undone after the test.
    monkeypatch.setenv(CHAINLIT_SECRET_VAR, "placeholder")
    monkeypatch.delenv(CHAINLIT_SECRET_VAR)
    settings = Settings(data_dir=tmp_path)
    first = ensure_auth_secret(settings)
    secret_file = tmp_path / "auth_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert os.environ[CHAINLIT_SECRET_VAR] == first
    monkeypatch.delenv(CHAINLIT_SECRET_VAR)
    assert ensure_auth_secret(settings) == first
    secret_file.chmod(0o644)
    monkeypatch.delenv(CHAINLIT_SECRET_VAR)
    assert ensure_auth_secret(settings) == first
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    monkeypatch.setenv(CHAINLIT_SECRET_VAR, "c" * 40)
    assert ensure_auth_secret(settings) == "c" * 40
    assert ensure_auth_secret(Settings(data_dir=tmp_path, auth_secret="d" * 40)) == "d" * 40
    with pytest.raises(AuthConfigError):
        ensure_auth_secret(Settings(data_dir=tmp_path, auth_secret="too-short"))


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[EngineSessions]:
    await migrate(db_url)
    opened = EngineSessions(db_url)
    yield opened
    await opened.close()


async def fail(throttle: LoginThrottle, name: str, address: str | None = None) -> None:
    """One wrong password for `name`: let through, then never succeeded."""
    assert await throttle.attempt(name, address) is not None


async def test_login_throttle_pauses_a_name_then_forgets(sessions: EngineSessions) -> None:
    now = [1000.0]  # a clock the test moves: no real waiting, however loaded the machine
    windows = EventWindows(sessions, clock=lambda: now[0])
    throttle = LoginThrottle(windows, max_failures=3, window_s=600)
    for _ in range(3):
        await fail(throttle, "ivan")
        now[0] += 100
    assert await throttle.attempt("IVAN") is None  # three failures within 600 s
    await fail(throttle, "other")
    now[0] += 399  # the first failure is 699 s old, the last 499 s: two left in the window
    await fail(throttle, "ivan")
    assert await throttle.attempt("ivan") is None
    now[0] += 600
    await fail(throttle, "ivan")
    await fail(throttle, "ivan")
    right = await throttle.attempt("ivan")
    assert right is not None
    await throttle.succeeded(right)
    await fail(throttle, "ivan")
    await fail(throttle, "ivan")
    await fail(throttle, "ivan")  # the two failures before the success are forgotten
    assert await throttle.attempt("ivan") is None


async def test_login_throttle_counts_a_name_however_it_is_padded_and_each_address(
    sessions: EngineSessions,
) -> None:
    throttle = LoginThrottle(EventWindows(sessions), max_failures=3, max_address_failures=5)
    for _ in range(3):
        await fail(throttle, "carol", "10.0.0.1")
    for padded in (" carol", "carol ", "\tcarol", "CAROL\n"):
        assert await throttle.attempt(padded, "10.0.0.2") is None
    await fail(throttle, "dave", "10.0.0.1")
    right = await throttle.attempt("erin", "10.0.0.1")
    assert right is not None
    await throttle.succeeded(right)  # a right password is not a failure of its address
    await fail(throttle, "erin", "10.0.0.1")
    assert await throttle.attempt("frank", "10.0.0.1") is None  # five failures from one address
    await fail(throttle, "frank", "10.0.0.2")


def test_origin_policy() -> None:
    policy = OriginPolicy.of(["https://Widget.example/", "junk"], "https://cadre.example")
    assert policy.allowed == frozenset({"https://widget.example", "https://cadre.example"})
    assert policy.allows(None, ["cadre.local:8000"])
    assert policy.allows("http://cadre.local:8000", ["cadre.local:8000"])
    assert policy.allows("https://widget.example", ["cadre.local:8000"])
    assert not policy.allows("https://evil.example", ["cadre.local:8000"])
    assert not policy.allows("null", ["cadre.local:8000"])
    assert not policy.allows("http://cadre.local:8000.evil.example", ["cadre.local:8000"])
    # A client-written X-Forwarded-Host never makes its origin ours (behind a proxy,
    # CADRE_PUBLIC_URL names the public origin, as https://cadre.example here).
    assert not policy.allows_environ(
        "https://proxy.example",
        {"HTTP_HOST": "cadre.local", "HTTP_X_FORWARDED_HOST": "proxy.example"},
    )
    assert policy.allows_environ("https://cadre.example", {"HTTP_HOST": "cadre.local"})
    assert normalize_origin("ftp://x") is None
    assert normalize_origin("https://x/path") is None


def test_handshake_payloads() -> None:
    good = {
        "sessionId": "0b6d2a6e-8c1a-4a53-9c6a-2f0b4f5d6e7a",
        "clientType": "webapp",
        "threadId": "",
        "userEnv": "{}",
        "chatProfile": "",
    }
    assert check_handshake(good) == good
    assert is_canonical_uuid(good["sessionId"])
    for change in [
        {"sessionId": "../x"},
        {"sessionId": "/tmp/x"},
        {"threadId": "../x"},
        {"clientType": "slack"},
        {"userEnv": "[]"},
        {"chatProfile": 7},
    ]:
        with pytest.raises(ConnectionRefusedError):
            check_handshake({**good, **change})
    with pytest.raises(ConnectionRefusedError):
        check_handshake("not a dict")
