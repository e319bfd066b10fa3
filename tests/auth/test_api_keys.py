"""Personal API keys on SQLite and PostgreSQL: shown once, stored hashed, revocable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth import UnknownUserError
from app.auth.api_keys import ApiKeyStore, InvalidApiKeyError, UnknownApiKeyError
from app.auth.users import UserDirectory
from app.db import ApiKey, database_url, migrate
from app.db.sessions import EngineSessions


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return database_url(tmp_path)
    return str(request.getfixturevalue("auth_pg_url"))


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[EngineSessions]:
    await migrate(db_url)
    opened = EngineSessions(db_url)
    await UserDirectory(opened).add("ada", "a-long-password-1")
    yield opened
    await opened.close()


async def test_a_key_acts_for_its_user_and_only_its_hash_is_stored(
    sessions: EngineSessions,
) -> None:
    keys = ApiKeyStore(sessions)
    made = await keys.create("ada", "laptop")
    assert made.secret.startswith(made.info.prefix + ".")
    holder = await keys.authenticate(made.secret)
    assert (holder.identifier, holder.prefix) == ("ada", made.info.prefix)
    async with sessions.reading() as session:
        row = (await session.scalars(select(ApiKey))).one()
    assert made.secret not in (row.key_hash, row.prefix, row.name)
    assert row.last_used_at is not None
    [listed] = await keys.list("ada")
    assert (listed.name, listed.state) == ("laptop", "active")


async def test_wrong_revoked_and_expired_keys_and_disabled_users_are_refused(
    sessions: EngineSessions,
) -> None:
    keys = ApiKeyStore(sessions)
    made = await keys.create("ada")
    for wrong in ("", "sk-123", made.secret + "x", made.info.prefix + ".guess"):
        with pytest.raises(InvalidApiKeyError):
            await keys.authenticate(wrong)
    await UserDirectory(sessions).disable("ada")
    with pytest.raises(InvalidApiKeyError, match="disabled"):
        await keys.authenticate(made.secret)
    await UserDirectory(sessions).enable("ada")
    assert (await keys.authenticate(made.secret)).identifier == "ada"
    revoked = await keys.revoke(made.info.prefix)
    assert revoked.state == "revoked"
    with pytest.raises(InvalidApiKeyError, match="revoked"):
        await keys.authenticate(made.secret)
    old = await keys.create("ada", expires_in=timedelta(seconds=-1))
    with pytest.raises(InvalidApiKeyError, match="expired"):
        await keys.authenticate(old.secret)


async def test_unknown_users_and_keys_get_messages_that_say_what_to_do(
    sessions: EngineSessions,
) -> None:
    keys = ApiKeyStore(sessions)
    with pytest.raises(UnknownUserError, match="cadre users list"):
        await keys.create("nobody")
    with pytest.raises(UnknownApiKeyError, match="cadre keys list"):
        await keys.revoke("cadre-00000000")


async def test_a_key_is_found_and_revoked_for_its_owner_only(sessions: EngineSessions) -> None:
    await UserDirectory(sessions).add("bea", "a-long-password-2")
    keys = ApiKeyStore(sessions)
    adas = await keys.create("ada", "ada's")
    beas = await keys.create("bea", "bea's")
    ada_id = adas.info.user_id
    assert (await keys.get(adas.info.id, owner_id=ada_id)).name == "ada's"
    with pytest.raises(UnknownApiKeyError):
        await keys.get(beas.info.id, owner_id=ada_id)
    with pytest.raises(UnknownApiKeyError):
        await keys.revoke(beas.info.prefix, owner_id=ada_id)
    assert (await keys.authenticate(beas.secret)).identifier == "bea"  # untouched
    assert (await keys.revoke(adas.info.id, owner_id=ada_id)).state == "revoked"
    everyone = [(owner, info.name, info.state) for owner, info in await keys.list_all()]
    assert everyone == [("ada", "ada's", "revoked"), ("bea", "bea's", "active")]
