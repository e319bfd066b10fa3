"""The widget's site registry and its visitors, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from app.auth.sites import SiteError, SiteStore, VisitorRefusedError, visitor_token
from app.auth.tokens import read_token, revocation_reason
from app.auth.users import UserDirectory
from app.db import database_url, migrate
from app.db.sessions import EngineSessions

SECRET = "s" * 48


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return database_url(tmp_path)
    return str(request.getfixturevalue("auth_pg_url"))


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[EngineSessions]:
    await migrate(db_url)
    opened = EngineSessions(db_url)
    yield opened
    await opened.close()


async def test_a_site_is_found_by_any_spelling_of_its_origin(sessions: EngineSessions) -> None:
    sites = SiteStore(sessions)
    shop = await sites.add(
        "HTTPS://Shop.Example/", "Shop", operators=("Writer", "Writer", " "), daily_tokens=500
    )
    assert (shop.origin, shop.operators, shop.daily_tokens) == (
        "https://shop.example",
        ("Writer",),
        500,
    )
    found = await sites.by_origin("https://shop.example")
    assert found is not None
    assert found.id == shop.id
    assert await sites.by_origin("https://shop.example.evil") is None
    assert await sites.by_origin("null") is None
    assert await sites.by_origin(None) is None
    with pytest.raises(SiteError, match="already registered"):
        await sites.add("https://shop.example", "Again")
    for bad in ("shop.example", "ftp://shop.example", "https://shop.example/page"):
        with pytest.raises(SiteError, match="not a web origin"):
            await sites.add(bad, "Bad")
    await sites.remove("https://shop.example")
    assert await sites.list() == []


async def test_visitors_are_separate_users_and_signed_ids_must_match(
    sessions: EngineSessions,
) -> None:
    sites = SiteStore(sessions)
    shop = await sites.add("https://shop.example", "Shop")
    first, anonymous, ticket = await sites.visitor(shop, None, None)
    second, _, _ = await sites.visitor(shop, None, None)
    assert first != second
    again, _, _ = await sites.visitor(shop, anonymous, ticket)
    assert again == first  # the browser keeps its visitor id and its conversations
    signed, _, _ = await sites.visitor(shop, "customer-42", shop.sign("customer-42"))
    assert signed == shop.visitor_user("customer-42")
    for visitor, signature in (("customer-42", "0" * 64), ("customer-42", None), (anonymous, "x")):
        with pytest.raises(VisitorRefusedError):
            await sites.visitor(shop, visitor, signature)
    other = await sites.add("https://blog.example", "Blog")
    assert other.visitor_user("customer-42") != signed
    account = await UserDirectory(sessions).get(first)
    assert account is not None
    assert account.role == "member"
    assert await UserDirectory(sessions).check_password(first, "") is None


async def test_a_visitor_token_is_a_short_lived_login_the_revocation_check_accepts(
    sessions: EngineSessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", SECRET)
    sites = SiteStore(sessions)
    shop = await sites.add("https://shop.example", "Shop")
    visitor, _, _ = await sites.visitor(shop, None, None)
    token = visitor_token(shop, visitor, SECRET, now=1_000_000)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["metadata"]["site"] == shop.id
    fresh = visitor_token(shop, visitor, SECRET)
    read = read_token(fresh)
    assert read is not None
    assert read.identifier == visitor
    directory = UserDirectory(sessions)
    assert await revocation_reason(directory, fresh) is None
    await directory.disable(visitor)
    assert await revocation_reason(directory, fresh) == "the user is disabled"
