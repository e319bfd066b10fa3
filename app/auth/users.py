"""User accounts: create, list, disable, re-enable, change passwords and roles, check logins.

Used by the `cadre users` commands, the login callbacks and the revocation checks. A user is
a row of `app.db.User`; revoking sessions bumps `token_version` and stamps
`sessions_revoked_at`, and every token carries the version it was issued at.
"""

from __future__ import annotations

import re
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.errors import InvalidUserNameError, UnknownUserError, UserExistsError
from app.auth.passwords import hash_password, needs_rehash, verify_password_async
from app.db.collections import COLLECTION_PROVIDER
from app.db.models import ROLES
from app.db.models import User as UserRow
from app.db.types import utcnow

PASSWORD = "password"  # nosec B105  # a provider name, not a password
"""`auth_provider` of users created with a password."""
OIDC = "oidc"
"""`auth_provider` of users created by single sign-on."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+\-]{0,254}")


@dataclass(frozen=True)
class Account:
    """What an admin (or a login check) needs to know about one user."""

    id: str
    identifier: str
    display_name: str | None
    role: str
    disabled: bool
    auth_provider: str | None
    has_password: bool
    token_version: int
    sessions_revoked_at: datetime | None
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, row: UserRow) -> Account:
        """The account stored in `row`."""
        return cls(
            id=row.id,
            identifier=row.identifier,
            display_name=row.display_name,
            role=row.role,
            disabled=row.disabled,
            auth_provider=row.auth_provider,
            has_password=row.password_hash is not None,
            token_version=row.token_version or 0,
            sessions_revoked_at=row.sessions_revoked_at,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )


def check_name(identifier: str) -> str:
    """The user name, stripped; `InvalidUserNameError` if it is not usable."""
    name = identifier.strip()
    if not _NAME.fullmatch(name):
        raise InvalidUserNameError(
            f"user name {identifier!r} is not allowed: use 1-255 letters, digits and . _ @ + -, "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str) -> str:
    """`role` if it is one of `ROLES`."""
    if role not in ROLES:
        raise InvalidUserNameError(f"role {role!r} does not exist: use one of {', '.join(ROLES)}")
    return role


class SessionSource(Protocol):
    """Where database sessions come from: the data layer, or `EngineSessions` in the CLI."""

    def reading(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for queries."""
        ...

    def writing(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session in one transaction that holds the write lock from its start."""
        ...


class UserDirectory:
    """The users table."""

    def __init__(self, store: SessionSource) -> None:
        self.store = store

    async def add(
        self,
        identifier: str,
        password: str | None,
        *,
        role: str = "member",
        display_name: str | None = None,
        provider: str = PASSWORD,
    ) -> Account:
        """Create a user; `UserExistsError` if the name is taken."""
        name = check_name(identifier)
        check_role(role)
        password_hash = hash_password(password) if password is not None else None
        try:
            async with self.store.writing() as session:
                if await _row(session, name) is not None:
                    raise UserExistsError(f"user {name!r} already exists")
                row = UserRow(
                    id=str(uuid.uuid4()),
                    identifier=name,
                    display_name=display_name,
                    role=role,
                    password_hash=password_hash,
                    auth_provider=provider,
                    metadata_={},
                )
                session.add(row)
        except IntegrityError as exc:  # a concurrent `add` won the race
            raise UserExistsError(f"user {name!r} already exists") from exc
        return Account.of(row)

    async def get(self, identifier: str) -> Account | None:
        """The user called `identifier`, if any."""
        async with self.store.reading() as session:
            row = await _row(session, identifier)
        return None if row is None else Account.of(row)

    async def list(self) -> list[Account]:
        """Every user, by name (shared collections, kept in the same table, are not users)."""
        async with self.store.reading() as session:
            rows = await session.scalars(
                select(UserRow)
                .where(UserRow.auth_provider.is_distinct_from(COLLECTION_PROVIDER))
                .order_by(UserRow.identifier)
            )
            return [Account.of(row) for row in rows]

    async def has_admin(self) -> bool:
        """Whether any admin exists (disabled or not)."""
        async with self.store.reading() as session:
            found = await session.scalar(select(UserRow.id).where(UserRow.role == "admin"))
        return found is not None

    async def ensure_admin(self, identifier: str, password: str) -> Account | None:
        """Create `identifier` as an admin if no admin exists yet; the new account, else None."""
        if await self.has_admin():
            return None
        existing = await self.get(check_name(identifier))
        if existing is not None:
            # The name is taken by a member: promote it rather than fail the start.
            await self.set_role(identifier, "admin")
            return await self.get(identifier)
        try:
            return await self.add(identifier, password, role="admin")
        except UserExistsError:
            return None  # another server process starting at the same moment made it

    async def disable(self, identifier: str) -> Account:
        """Refuse the user's logins and end every session and token they hold."""
        return await self._change(identifier, disabled=True, revoke=True)

    async def enable(self, identifier: str) -> Account:
        """Let the user log in again (tokens from before the disable stay dead)."""
        return await self._change(identifier, disabled=False)

    async def revoke_sessions(self, identifier: str) -> Account:
        """End every session and token the user holds; they must log in again."""
        return await self._change(identifier, revoke=True)

    async def set_password(self, identifier: str, password: str) -> Account:
        """Replace the password and end the user's other sessions."""
        return await self._change(identifier, password_hash=hash_password(password), revoke=True)

    async def set_role(self, identifier: str, role: str) -> Account:
        """Make the user an admin or a member."""
        return await self._change(identifier, role=check_role(role))

    async def check_password(self, identifier: str, password: str) -> Account | None:
        """The account if the password matches and the user may log in; None otherwise."""
        async with self.store.reading() as session:
            row = await _row(session, identifier.strip())
        stored = row.password_hash if row is not None else None
        # Verify even for unknown users, so the answer's timing does not reveal names.
        if not await verify_password_async(stored, password) or row is None or row.disabled:
            return None
        if stored and needs_rehash(stored):
            return await self._change(
                row.identifier, last_login_at=utcnow(), password_hash=hash_password(password)
            )
        return await self._change(row.identifier, last_login_at=utcnow())

    async def upsert_sso(
        self, identifier: str, display_name: str | None, role: str | None
    ) -> Account | None:
        """Create or refresh a user who logged in by single sign-on; None if refused.

        Refused when the name belongs to a user who logs in with a password (an identity
        provider must not take over a local account) or to a disabled user. `role` None
        keeps the stored role (new users become members).
        """
        name = check_name(identifier)
        now = utcnow()
        try:
            async with self.store.writing() as session:
                row = await _row(session, name)
                if row is None:
                    row = UserRow(
                        id=str(uuid.uuid4()),
                        identifier=name,
                        display_name=display_name,
                        role=check_role(role or "member"),
                        auth_provider=OIDC,
                        metadata_={},
                    )
                    session.add(row)
                elif row.auth_provider != OIDC or row.disabled:
                    return None
                if display_name:
                    row.display_name = display_name
                if role is not None:
                    row.role = check_role(role)
                row.last_login_at = now
        except IntegrityError:  # a concurrent first login created the row
            return await self.upsert_sso(identifier, display_name, role)
        return Account.of(row)

    async def _change(self, identifier: str, *, revoke: bool = False, **values: object) -> Account:
        async with self.store.writing() as session:
            row = await _row(session, identifier.strip())
            if row is None:
                raise UnknownUserError(
                    f"no user is called {identifier!r}; `cadre users list` shows who exists"
                )
            for key, value in values.items():
                setattr(row, key, value)
            if revoke:
                row.token_version = (row.token_version or 0) + 1
                row.sessions_revoked_at = utcnow()
        return Account.of(row)


async def _row(session: AsyncSession, identifier: str) -> UserRow | None:
    result: UserRow | None = await session.scalar(
        select(UserRow).where(UserRow.identifier == identifier)
    )
    return result
