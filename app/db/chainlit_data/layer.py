"""Cadre's Chainlit data layer: chat history on our own models, owners checked on every write.

Who is asking ("the actor") comes, in order, from an explicit `as_user` argument, the
`acting_user` context variable (set per HTTP request by app/api/acting_user.py), or the
Chainlit session's user. With an actor known, another user's thread answers exactly like a
missing one: `get_thread_author` returns "" (Chainlit then answers 404) and writes raise
`NotFoundError` (an HTTP 404).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import chainlit.config as chainlit_config
from chainlit.data.base import BaseDataLayer
from chainlit.types import Feedback, PageInfo, PaginatedResponse, Pagination, ThreadFilter
from chainlit.user import PersistedUser, User
from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.chainlit_data import convert, queries
from app.db.chainlit_data.actor import acting_user, current_actor
from app.db.chainlit_data.calls import logged, queued
from app.db.chainlit_data.storage import LocalStorageClient, element_bytes, object_key_for
from app.db.engine import make_engine
from app.db.errors import NotFoundError, OwnershipError, PersistenceError, RemoteElementError
from app.db.models import ROLES, Element, Step, Thread
from app.db.models import Feedback as FeedbackRow
from app.db.models import User as UserRow
from app.db.sessions import Sessions
from app.db.types import utcnow

if TYPE_CHECKING:
    from chainlit.element import Element as ChainlitElement
    from chainlit.element import ElementDict
    from chainlit.step import StepDict
    from chainlit.types import ThreadDict

__all__ = ["CadreDataLayer", "StoredFile", "acting_user"]

MAX_PAGE = 100
# Kept as columns, never copied from a login callback's metadata (see create_user).
_PROTECTED_KEYS = frozenset({"role", "disabled", "token_version", "password_hash"})


@dataclass(frozen=True)
class StoredFile:
    """What the download route needs to know about an element's bytes."""

    element_id: str
    owner_identifier: str | None
    name: str
    mime: str | None


class CadreDataLayer(Sessions, BaseDataLayer):
    """Chainlit's `BaseDataLayer` on Cadre's SQLAlchemy models; owns its engine."""

    def __init__(
        self,
        engine: AsyncEngine,
        storage: LocalStorageClient,
        readable: Sequence[Path] | None = None,
    ) -> None:
        Sessions.__init__(self, engine)
        self.storage = storage
        self.readable = (
            tuple(readable)
            if readable is not None
            else (storage.base_dir.parent, chainlit_config.FILES_DIRECTORY)
        )
        """Folders an element's `path` may name: by default the data folder (the storage
        folder's parent, which holds the kept originals) and Chainlit's uploads."""
        self._user_ids: dict[str, str] = {}

    @classmethod
    def from_url(cls, url: str, files_dir: Path) -> CadreDataLayer:
        """A data layer on a new engine for `url`, storing element bytes under `files_dir`."""
        return cls(make_engine(url), LocalStorageClient(files_dir))

    # -- users -------------------------------------------------------------------------------

    @logged
    async def get_user(self, identifier: str) -> PersistedUser | None:
        """The stored user; `metadata["role"]` and `metadata["disabled"]` come from columns."""
        async with self.reading() as session:
            row = await session.scalar(select(UserRow).where(UserRow.identifier == identifier))
        return None if row is None else convert.persisted_user(row)

    @logged
    async def create_user(self, user: User) -> PersistedUser | None:
        """Create the user at first login, or refresh name and metadata at the next ones.

        Role, disabled flag and token version are never taken from the login callback for
        an existing user: an admin's `cadre users` decisions win over whatever a callback or
        an identity provider claims. A new user gets `metadata["role"]` if it is a valid role.
        """
        try:
            return await self._create_or_refresh_user(user)
        except IntegrityError:
            # Two first logins raced (PostgreSQL); the other one created the row.
            return await self._create_or_refresh_user(user)

    async def _create_or_refresh_user(self, user: User) -> PersistedUser:
        metadata = {k: v for k, v in (user.metadata or {}).items() if k not in _PROTECTED_KEYS}
        now = utcnow()
        async with self.writing() as session:
            row = await session.scalar(select(UserRow).where(UserRow.identifier == user.identifier))
            if row is None:
                role = (user.metadata or {}).get("role")
                row = UserRow(
                    id=str(uuid.uuid4()),
                    identifier=user.identifier,
                    display_name=user.display_name,
                    role=role if role in ROLES else "member",
                    auth_provider=str((user.metadata or {}).get("provider") or "")[:64] or None,
                    metadata_=metadata,
                    last_login_at=now,
                )
                session.add(row)
            else:
                row.metadata_ = {**(row.metadata_ or {}), **metadata}
                row.display_name = user.display_name or row.display_name
                row.last_login_at = now
        return convert.persisted_user(row)

    # -- threads -----------------------------------------------------------------------------

    @logged
    async def get_thread_author(self, thread_id: str) -> str:
        """The owner's identifier; "" when missing, unowned, or not the actor's own thread."""
        if not _usable_id(thread_id):
            return ""
        async with self.reading() as session:
            owner = await session.scalar(
                select(UserRow.identifier)
                .join(Thread, Thread.user_id == UserRow.id)
                .where(Thread.id == thread_id)
            )
        actor = self._actor()
        if owner is None or (actor is not None and owner != actor):
            return ""
        return owner

    @logged
    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        """The whole thread: steps in order with their feedback, and elements.

        Not filtered by actor: Chainlit compares `userIdentifier` itself before using it
        (socket connect, resume); hiding foreign threads here would let a socket attach to
        one it cannot see.
        """
        if not _usable_id(thread_id):
            return None
        async with self.reading() as session:
            found = (
                await session.execute(
                    select(Thread, UserRow.identifier)
                    .outerjoin(UserRow, UserRow.id == Thread.user_id)
                    .where(Thread.id == thread_id)
                )
            ).first()
            if found is None:
                return None
            thread, owner = found
            rows = await session.execute(
                select(Step, FeedbackRow)
                .outerjoin(
                    FeedbackRow,
                    and_(FeedbackRow.for_id == Step.id, FeedbackRow.user_id == thread.user_id),
                )
                .where(Step.thread_id == thread_id)
                .order_by(Step.created_at.asc().nulls_first(), Step.inserted_at, Step.id)
            )
            steps = [convert.step_dict(step, convert.feedback_dict(fb)) for step, fb in rows]
            element_rows = await session.scalars(
                select(Element).where(Element.thread_id == thread_id).order_by(Element.created_at)
            )
            elements = [await self._element_dict(e) for e in element_rows]
        return convert.thread_dict(thread, owner, steps, elements)

    @logged
    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Create or update a thread; metadata merges (a None value deletes the key).

        The owner is set once and never reassigned: a different `user_id` raises
        `OwnershipError`, and an actor writing to someone else's thread gets `NotFoundError`.
        """
        async with self.writing() as session:
            if user_id is not None:
                await self._check_new_owner(session, user_id)
            thread = await self._thread_for_write(session, thread_id)
            if thread is None:
                # INSERT .. ON CONFLICT: a first step may be creating this row right now
                # (PostgreSQL runs the two concurrently); whoever wins, re-read it locked.
                owner = user_id or await self._actor_user_id(session)
                await session.execute(
                    self._insert(Thread)
                    .values(id=thread_id, user_id=owner, metadata={})
                    .on_conflict_do_nothing(index_elements=["id"])
                )
                thread = await self._thread_for_write(session, thread_id)
                if thread is None:
                    raise PersistenceError(f"thread {thread_id} was deleted while being created")
            if user_id is not None and thread.user_id != user_id:
                if thread.user_id is not None:
                    raise OwnershipError(
                        f"thread {thread_id} already has an owner; a thread never changes hands"
                    )
                thread.user_id = user_id
            if name is not None:
                thread.name = name
            if metadata is not None:
                merged = {**(thread.metadata_ or {}), **metadata}
                thread.metadata_ = {k: v for k, v in merged.items() if v is not None}
            if tags is not None:
                thread.tags = list(tags)
            thread.updated_at = utcnow()

    @logged
    async def delete_thread(self, thread_id: str) -> None:
        """Delete the thread, its steps, elements, feedback and stored files."""
        async with self.writing() as session:
            thread = await self._thread_for_write(session, thread_id)
            if thread is None:
                raise NotFoundError(f"thread {thread_id} not found")
            keys = list(
                await session.scalars(
                    select(Element.object_key).where(
                        Element.thread_id == thread_id, Element.object_key.is_not(None)
                    )
                )
            )
            await session.delete(thread)
        for key in keys:
            if key:
                await self.storage.delete_file(key)

    @logged
    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse[ThreadDict]:
        """One page of a user's threads, most recently active first, filtered in SQL."""
        if not filters.userId:
            raise PersistenceError("list_threads needs filters.userId (the owner's user id)")
        limit = max(1, min(pagination.first, MAX_PAGE))
        query = queries.thread_page(
            filters.userId,
            limit,
            actor=self._actor(),
            search=filters.search,
            feedback=filters.feedback,
            cursor=pagination.cursor,
        )
        async with self.reading() as session:
            rows = list((await session.execute(query)).tuples())
        page = rows[:limit]
        data = [convert.thread_dict(t, owner, [], [], created_at=t.updated_at) for t, owner in page]
        cursors = [convert.encode_cursor(t.updated_at, t.id) for t, _ in page]
        return PaginatedResponse(
            pageInfo=PageInfo(
                hasNextPage=len(rows) > limit,
                startCursor=cursors[0] if cursors else None,
                endCursor=cursors[-1] if cursors else None,
            ),
            data=data,
        )

    # -- steps -------------------------------------------------------------------------------

    @queued
    @logged
    async def create_step(self, step_dict: StepDict) -> None:
        """Insert or update a step (every key Chainlit sends is kept)."""
        await self._upsert_step(step_dict)

    @queued
    @logged
    async def update_step(self, step_dict: StepDict) -> None:
        """Same as create_step: Chainlit may update a step it never created (queued writes)."""
        await self._upsert_step(step_dict)

    @queued
    @logged
    async def delete_step(self, step_id: str) -> None:
        """Delete a step with its feedback, elements and their files."""
        async with self.writing() as session:
            thread_id = await session.scalar(select(Step.thread_id).where(Step.id == step_id))
            if thread_id is None:
                raise NotFoundError(f"step {step_id} not found")
            await self._thread_for_write(session, thread_id)
            keys = list(
                await session.scalars(
                    select(Element.object_key).where(
                        Element.for_id == step_id, Element.thread_id == thread_id
                    )
                )
            )
            await session.execute(
                delete(Element).where(Element.for_id == step_id, Element.thread_id == thread_id)
            )
            await session.execute(delete(Step).where(Step.id == step_id))
        for key in keys:
            if key:
                await self.storage.delete_file(key)

    @logged
    async def get_favorite_steps(self, user_id: str) -> list[StepDict]:
        """Steps the user marked as favorite, in their own threads only."""
        query = (
            select(Step)
            .join(Thread, Thread.id == Step.thread_id)
            .where(Thread.user_id == user_id, Step.metadata_["favorite"].as_boolean())
            .order_by(Step.created_at.desc().nulls_last())
        )
        async with self.reading() as session:
            return [convert.step_dict(row) for row in await session.scalars(query)]

    # -- elements ----------------------------------------------------------------------------

    @queued
    @logged
    async def create_element(self, element: ChainlitElement) -> None:
        """Store the element's bytes (from `path` or `content`) and its row.

        Never fetches `element.url`: a URL-only element is refused, since fetching it would
        let whoever chose the URL make the server read internal addresses (SSRF).
        """
        values = convert.element_values(element.to_dict())
        # The key is ours to choose: one taken from the element could alias another's file.
        values.pop("object_key", None)
        thread_id, element_id = values.get("thread_id"), values["id"]
        if not thread_id:
            raise PersistenceError(f"element {element_id} has no thread id")
        data = await element_bytes(element, self.readable)
        if data is None and not str(element.url or "").startswith(self.storage.url_prefix + "/"):
            raise RemoteElementError(
                f"element {element_id} only has a URL; Cadre never fetches URLs, so pass "
                "the bytes as content= or path= instead"
            )
        async with self.writing() as session:
            await self._ensure_thread(session, thread_id)
            existing = await session.scalar(select(Element).where(Element.id == element_id))
            if existing is not None and existing.thread_id != thread_id:
                raise NotFoundError(f"element {element_id} not found in thread {thread_id}")
            if data is not None:
                key = (existing.object_key if existing else None) or object_key_for(
                    thread_id, element_id, values.get("name") or "file"
                )
                stored = await self.storage.upload_file(key, data, values.get("mime") or "")
                values.update(object_key=key, url=stored["url"], content_length=len(data))
            update_cols = {k: v for k, v in values.items() if k not in ("id", "thread_id")}
            insert = self._insert(Element).values(**values)
            await session.execute(
                insert.on_conflict_do_update(index_elements=["id"], set_=update_cols)
            )

    @logged
    async def get_element(self, thread_id: str, element_id: str) -> ElementDict | None:
        """The element if it belongs to that thread (and the thread to the actor)."""
        if not (_usable_id(thread_id) and _usable_id(element_id)):
            return None
        async with self.reading() as session:
            row = await session.scalar(
                select(Element).where(Element.id == element_id, Element.thread_id == thread_id)
            )
            if row is None or not await self._actor_may_read(session, thread_id):
                return None
            return await self._element_dict(row)

    @queued
    @logged
    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        """Delete the element row and its file."""
        async with self.writing() as session:
            query = select(Element).where(Element.id == element_id)
            if thread_id is not None:
                query = query.where(Element.thread_id == thread_id)
            row = await session.scalar(query)
            if row is None:
                raise NotFoundError(f"element {element_id} not found")
            await self._thread_for_write(session, row.thread_id)
            key = row.object_key
            await session.delete(row)
        if key:
            await self.storage.delete_file(key)

    @logged
    async def stored_file(self, object_key: str) -> StoredFile | None:
        """Who may download the bytes under `object_key` (None when no element has it)."""
        async with self.reading() as session:
            found = (
                await session.execute(
                    select(Element.id, UserRow.identifier, Element.name, Element.mime)
                    .join(Thread, Thread.id == Element.thread_id)
                    .outerjoin(UserRow, and_(UserRow.id == Thread.user_id, ~UserRow.disabled))
                    .where(Element.object_key == object_key)
                )
            ).first()
        return None if found is None else StoredFile(*found)

    # -- feedback ----------------------------------------------------------------------------

    @logged
    async def upsert_feedback(self, feedback: Feedback, as_user: str | None = None) -> str:
        """Save a thumbs up/down on a step of the actor's own thread; returns its id.

        The thread is taken from the step, never from `feedback.threadId` (client input).
        """
        actor = self._require_actor(as_user)
        if feedback.value not in (0, 1):
            raise PersistenceError(f"feedback value must be 0 or 1, not {feedback.value!r}")
        try:
            return await self._upsert_feedback(feedback, actor)
        except IntegrityError:
            # A double click raced (PostgreSQL): the other request created the row; update it.
            return await self._upsert_feedback(feedback, actor)

    async def _upsert_feedback(self, feedback: Feedback, actor: str) -> str:
        async with self.writing() as session:
            found = (
                await session.execute(
                    select(Step.thread_id, UserRow.id)
                    .join(Thread, Thread.id == Step.thread_id)
                    .join(UserRow, UserRow.id == Thread.user_id)
                    .where(Step.id == feedback.forId, UserRow.identifier == actor)
                )
            ).first()
            if found is None or (feedback.threadId and feedback.threadId != found[0]):
                raise NotFoundError(f"message {feedback.forId} not found")
            thread_id, user_id = found
            row = await session.scalar(
                select(FeedbackRow).where(
                    FeedbackRow.for_id == feedback.forId, FeedbackRow.user_id == user_id
                )
            )
            if feedback.id and (row is None or row.id != feedback.id):
                clash = await session.get(FeedbackRow, feedback.id)
                if clash is not None:
                    raise NotFoundError(f"feedback {feedback.id} not found")
            if row is None:
                row = FeedbackRow(
                    id=feedback.id or str(uuid.uuid4()),
                    for_id=feedback.forId,
                    thread_id=thread_id,
                    user_id=user_id,
                    value=feedback.value,
                )
                session.add(row)
            row.value = feedback.value
            row.comment = feedback.comment
            return row.id

    @logged
    async def delete_feedback(self, feedback_id: str, as_user: str | None = None) -> bool:
        """Delete feedback the actor gave on their own thread."""
        actor = self._require_actor(as_user)
        async with self.writing() as session:
            owned = (
                select(FeedbackRow.id)
                .join(Thread, Thread.id == FeedbackRow.thread_id)
                .join(UserRow, UserRow.id == Thread.user_id)
                .where(FeedbackRow.id == feedback_id, UserRow.identifier == actor)
            )
            if await session.scalar(owned) is None:
                raise NotFoundError(f"feedback {feedback_id} not found")
            await session.execute(delete(FeedbackRow).where(FeedbackRow.id == feedback_id))
        return True

    # -- misc --------------------------------------------------------------------------------

    async def build_debug_url(self) -> str:
        """No external debugger: an empty URL hides the UI's debug link."""
        return ""

    async def close(self) -> None:
        """Release the connection pool and the storage client."""
        await self.storage.close()
        await Sessions.close(self)

    # -- helpers -----------------------------------------------------------------------------

    def _actor(self, explicit: str | None = None) -> str | None:
        return current_actor(explicit)

    def _require_actor(self, explicit: str | None) -> str:
        actor = self._actor(explicit)
        if actor is None:
            raise NotFoundError("no authenticated user: log in first")
        return actor

    async def _actor_user_id(self, session: AsyncSession) -> str | None:
        actor = self._actor()
        if actor is None:
            return None
        if actor not in self._user_ids:
            user_id = await session.scalar(select(UserRow.id).where(UserRow.identifier == actor))
            if user_id is None:
                return None
            if len(self._user_ids) > 10_000:
                self._user_ids.clear()
            self._user_ids[actor] = user_id  # ids never change, so caching is safe
        return self._user_ids[actor]

    async def _check_new_owner(self, session: AsyncSession, user_id: str) -> None:
        identifier = await session.scalar(select(UserRow.identifier).where(UserRow.id == user_id))
        if identifier is None:
            raise PersistenceError(f"user {user_id} does not exist; create the user first")
        actor = self._actor()
        if actor is not None and identifier != actor:
            raise OwnershipError(f"{actor} cannot give a thread to user {user_id}")

    async def _thread_for_write(self, session: AsyncSession, thread_id: str) -> Thread | None:
        """The thread, locked for update; NotFoundError if it is someone else's."""
        thread = await session.scalar(
            select(Thread).where(Thread.id == thread_id).with_for_update()
        )
        if thread is not None and thread.user_id is not None:
            actor = self._actor()
            if actor is not None and await self._actor_user_id(session) != thread.user_id:
                raise NotFoundError(f"thread {thread_id} not found")
        return thread

    async def _actor_may_read(self, session: AsyncSession, thread_id: str) -> bool:
        if self._actor() is None:
            return True
        owner = await session.scalar(select(Thread.user_id).where(Thread.id == thread_id))
        return owner is not None and owner == await self._actor_user_id(session)

    async def _ensure_thread(self, session: AsyncSession, thread_id: str) -> None:
        """Create the thread row a step or element needs; refuse someone else's thread."""
        if await self._thread_for_write(session, thread_id) is None:
            owner = await self._actor_user_id(session)
            await session.execute(
                self._insert(Thread)
                .values(id=thread_id, user_id=owner, metadata={})
                .on_conflict_do_nothing(index_elements=["id"])
            )

    async def _upsert_step(self, step_dict: StepDict) -> None:
        values = convert.step_values(step_dict)
        step_id, thread_id = values.get("id"), values.get("thread_id")
        if not step_id or not thread_id or not values.get("type"):
            raise PersistenceError("a step needs id, threadId and type")
        async with self.writing() as session:
            await self._ensure_thread(session, thread_id)
            current = await session.scalar(select(Step.thread_id).where(Step.id == step_id))
            if current is not None and current != thread_id:
                raise NotFoundError(f"step {step_id} not found in thread {thread_id}")
            update_cols = {k: v for k, v in values.items() if k not in ("id", "thread_id")}
            insert = self._insert(Step).values(**values)
            await session.execute(
                insert.on_conflict_do_update(index_elements=["id"], set_=update_cols)
            )
            await session.execute(
                update(Thread).where(Thread.id == thread_id).values(updated_at=utcnow())
            )

    def _insert(self, model: type[Step] | type[Element] | type[Thread]) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(model)

    async def _element_dict(self, row: Element) -> ElementDict:
        url = await self.storage.get_read_url(row.object_key) if row.object_key else row.url
        return convert.element_dict(row, url)


def _usable_id(value: str) -> bool:
    # Ids come from URLs and socket payloads; PostgreSQL rejects NUL in text outright.
    return bool(value) and "\x00" not in value
