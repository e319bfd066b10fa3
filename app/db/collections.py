"""Shared collections: named sets of documents an admin curates for operators to search.

A collection is a knowledge owner that is not a person. It is kept as a row of `users` with
the provider `collection`, disabled and without a password, so no door (password, single
sign-on, API key, widget) signs in as it; every document table already points at `users`, so
its documents are ingested, listed, kept, deleted and searched exactly as a person's are, with
the collection's id as their owner. An operator whose knowledge is a collection searches that
owner for whoever asks it (agents/scope.py).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db.errors import PersistenceError
from app.db.models import User as UserRow
from app.db.sessions import Sessions

COLLECTION_PROVIDER = "collection"
"""`auth_provider` of the `users` rows that are collections."""
_IDENTIFIER = "collection:"
"""Prefix of a collection's `users.identifier`; a user name cannot hold a colon."""
_NAME = re.compile(r"[^\W_][\w .,&'()+-]{0,59}")
DESCRIPTION_MAX = 300


class CollectionError(PersistenceError):
    """A collection name that cannot be used, or one that is taken."""


@dataclass(frozen=True, slots=True)
class Collection:
    """A shared collection as admins see it."""

    id: str
    """The knowledge owner id its documents are stored under."""
    name: str
    description: str
    created_by: str | None
    """The admin's login name."""
    created_at: datetime


def check_collection_name(name: str) -> str:
    """The name, with its spaces tidied; `CollectionError` says what a name may hold."""
    tidy = " ".join(str(name).split())
    if not _NAME.fullmatch(tidy):
        raise CollectionError(
            "A collection name is 1 to 60 letters, digits, spaces and . , & ' ( ) + -, "
            "starting with a letter or digit."
        )
    return tidy


def _collection(row: UserRow) -> Collection:
    return Collection(
        id=row.id,
        name=row.display_name or row.identifier.removeprefix(_IDENTIFIER),
        description=str((row.metadata_ or {}).get("description") or ""),
        created_by=(row.metadata_ or {}).get("created_by"),
        created_at=row.created_at,
    )


class CollectionStore:
    """Creates, lists, finds and removes shared collections."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def create(self, name: str, description: str = "", *, by: str) -> Collection:
        """A new collection; `CollectionError` if the name is unusable or taken (any case)."""
        tidy = check_collection_name(name)
        about = " ".join(description.split())
        if len(about) > DESCRIPTION_MAX:
            raise CollectionError(f"A description is at most {DESCRIPTION_MAX} characters.")
        row = UserRow(
            id=str(uuid.uuid4()),
            identifier=_IDENTIFIER + tidy.casefold(),
            display_name=tidy,
            role="member",
            password_hash=None,
            auth_provider=COLLECTION_PROVIDER,
            disabled=True,
            metadata_={"description": about, "created_by": by},
        )
        try:
            async with self._sessions.writing() as session:
                if await session.scalar(
                    select(UserRow.id).where(UserRow.identifier == row.identifier)
                ):
                    raise CollectionError(f"There is already a collection called {tidy!r}.")
                session.add(row)
        except IntegrityError as exc:  # a concurrent create won the race
            raise CollectionError(f"There is already a collection called {tidy!r}.") from exc
        return _collection(row)

    async def list(self) -> list[Collection]:
        """Every collection, by name."""
        async with self._sessions.reading() as session:
            rows = await session.scalars(
                select(UserRow)
                .where(UserRow.auth_provider == COLLECTION_PROVIDER)
                .order_by(UserRow.identifier)
            )
            return [_collection(row) for row in rows]

    async def find(self, name_or_id: str) -> Collection | None:
        """The collection with this id, or this name in any case; `None` if there is none."""
        key = " ".join(str(name_or_id).split())
        async with self._sessions.reading() as session:
            row = await session.scalar(
                select(UserRow).where(
                    UserRow.auth_provider == COLLECTION_PROVIDER,
                    (UserRow.id == key) | (UserRow.identifier == _IDENTIFIER + key.casefold()),
                )
            )
        return None if row is None else _collection(row)

    async def delete(self, collection_id: str) -> bool:
        """Remove the collection's row (delete its documents from the knowledge base first:
        their records go with the row); whether it existed."""
        async with self._sessions.writing() as session:
            row = await session.scalar(
                select(UserRow).where(
                    UserRow.id == collection_id, UserRow.auth_provider == COLLECTION_PROVIDER
                )
            )
            if row is None:
                return False
            await session.delete(row)
            return True


def is_collection(auth_provider: str | None) -> bool:
    """Whether a `users` row with this provider is a collection rather than a person."""
    return auth_provider == COLLECTION_PROVIDER
