"""Personal API keys: created for a user, shown once, stored as a hash, revocable.

A key looks like `cadre-Ab3dEf9h.<43 random characters>`. The part before the dot is its
*prefix*: stored in clear, unique, shown by `cadre keys list` so people can tell their keys
apart, and used to find the row. Only a SHA-256 hash of the whole key is stored. The key
carries 256 random bits, so a fast hash is enough (a slow password hash protects guessable
secrets; nobody guesses 256 bits), and checking it costs microseconds per request.

Used by `cadre keys …` (app/cli/keys.py), the signed-in person's API keys page
(app/api/keys_page.py) and the `Authorization: Bearer` dependency of the HTTP APIs
(app/api/api_keys.py). A key acts for its user with that user's documents,
and stops working the moment it is revoked, its user is disabled or it expires.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update

from app.auth.errors import AuthError, UnknownUserError
from app.auth.users import SessionSource
from app.db.domain import ApiKey
from app.db.models import User as UserRow
from app.db.types import utcnow

KEY_START = "cadre-"
"""Every key starts with this, so secret scanners and people can recognise one."""
_PREFIX_CHARS = 8
_TOUCH_EVERY = timedelta(minutes=1)
"""`last_used_at` is written at most this often per key: not one write per request."""
_NAME_LIMIT = 255


class InvalidApiKeyError(AuthError):
    """An API key is missing, unknown, revoked, expired, or its user is disabled."""


class UnknownApiKeyError(AuthError):
    """No key has that id or prefix."""


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the secret or its hash."""

    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        """The public view of a stored key."""
        return cls(
            id=row.id,
            user_id=row.user_id,
            name=row.name,
            prefix=row.prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            expires_at=row.expires_at,
        )

    @property
    def state(self) -> str:
        """`active`, `revoked` or `expired`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= utcnow():
            return "expired"
        return "active"


@dataclass(frozen=True)
class NewKey:
    """A key just created: `secret` is the only time the whole key exists outside a hash."""

    info: KeyInfo
    secret: str


@dataclass(frozen=True)
class KeyHolder:
    """Who a valid key acts for."""

    key_id: str
    prefix: str
    user_id: str
    identifier: str
    role: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _find(key: str, owner_id: str | None) -> Select[ApiKey]:
    query = select(ApiKey).where((ApiKey.id == key) | (ApiKey.prefix == key))
    return query if owner_id is None else query.where(ApiKey.user_id == owner_id)


def _prefix_of(secret: str) -> str | None:
    head, dot, rest = secret.partition(".")
    if not dot or not rest or not head.startswith(KEY_START) or len(head) > 32:
        return None
    return head


class ApiKeyStore:
    """The `api_keys` table."""

    def __init__(self, store: SessionSource) -> None:
        self.store = store

    async def create(
        self, identifier: str, name: str = "", *, expires_in: timedelta | None = None
    ) -> NewKey:
        """A new key for the user called `identifier`; `UnknownUserError` if there is none."""
        label = " ".join(name.split())[:_NAME_LIMIT]
        prefix = KEY_START + secrets.token_hex(_PREFIX_CHARS // 2)
        secret = f"{prefix}.{secrets.token_urlsafe(32)}"
        async with self.store.writing() as session:
            user = await session.scalar(select(UserRow).where(UserRow.identifier == identifier))
            if user is None:
                raise UnknownUserError(f"no user is called {identifier!r}: see `cadre users list`")
            row = ApiKey(
                id=str(uuid.uuid4()),
                user_id=user.id,
                name=label or f"key {prefix}",
                prefix=prefix,
                key_hash=_digest(secret),
                scopes=[],
                created_at=utcnow(),
                expires_at=utcnow() + expires_in if expires_in else None,
            )
            session.add(row)
        return NewKey(KeyInfo.of(row), secret)

    async def list(self, identifier: str) -> list[KeyInfo]:
        """The keys of the user called `identifier`, oldest first (revoked ones too)."""
        async with self.store.reading() as session:
            user_id = await session.scalar(
                select(UserRow.id).where(UserRow.identifier == identifier)
            )
            if user_id is None:
                raise UnknownUserError(f"no user is called {identifier!r}: see `cadre users list`")
            rows = await session.scalars(
                select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at)
            )
            return [KeyInfo.of(row) for row in rows]

    async def list_all(self) -> builtins.list[tuple[str, KeyInfo]]:
        """Every user's keys with their owner's login name, oldest first (for admins)."""
        async with self.store.reading() as session:
            rows = await session.execute(
                select(UserRow.identifier, ApiKey)
                .join(UserRow, UserRow.id == ApiKey.user_id)
                .order_by(ApiKey.created_at)
            )
            return [(identifier, KeyInfo.of(row)) for identifier, row in rows.tuples()]

    async def get(self, key: str, *, owner_id: str | None = None) -> KeyInfo:
        """The key whose id or prefix is `key` (and, with `owner_id`, that user's)."""
        async with self.store.reading() as session:
            row = await session.scalar(_find(key, owner_id))
            if row is None:
                raise UnknownApiKeyError(
                    f"no API key has the id or prefix {key!r}: see `cadre keys list USER`"
                )
            return KeyInfo.of(row)

    async def revoke(self, key: str, *, owner_id: str | None = None) -> KeyInfo:
        """Revoke the key whose id or prefix is `key`; revoking twice keeps the first time.

        With `owner_id`, only that user's key: someone else's is reported as unknown, so
        nobody learns which ids exist.
        """
        async with self.store.writing() as session:
            row = await session.scalar(_find(key, owner_id))
            if row is None:
                raise UnknownApiKeyError(
                    f"no API key has the id or prefix {key!r}: see `cadre keys list USER`"
                )
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return KeyInfo.of(row)

    async def authenticate(self, secret: str) -> KeyHolder:
        """Who `secret` acts for; `InvalidApiKeyError` saying why when it may not be used."""
        prefix = _prefix_of(secret.strip())
        if prefix is None:
            raise InvalidApiKeyError("that is not a Cadre API key (they start with 'cadre-')")
        async with self.store.reading() as session:
            found = (
                await session.execute(
                    select(ApiKey, UserRow)
                    .join(UserRow, UserRow.id == ApiKey.user_id)
                    .where(ApiKey.prefix == prefix)
                )
            ).first()
        if found is None or not hmac.compare_digest(found[0].key_hash, _digest(secret.strip())):
            raise InvalidApiKeyError("the API key is not valid")
        key, user = found
        info = KeyInfo.of(key)
        if info.state != "active":
            raise InvalidApiKeyError(f"the API key {key.prefix} is {info.state}")
        if user.disabled:
            raise InvalidApiKeyError(f"the user of API key {key.prefix} is disabled")
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at >= _TOUCH_EVERY:
            async with self.store.writing() as session:
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
                )
        return KeyHolder(key.id, key.prefix, user.id, user.identifier, user.role)
