"""The one non-trivial query: a page of a user's threads for the history sidebar."""

from __future__ import annotations

from sqlalchemy import Select, and_, exists, or_, select

from app.db.chainlit_data.convert import decode_cursor
from app.db.models import Feedback, Step, Thread, User


def thread_page(
    user_id: str,
    limit: int,
    *,
    actor: str | None = None,
    search: str | None = None,
    feedback: int | None = None,
    cursor: str | None = None,
) -> Select[Thread, str]:
    """(thread, owner identifier) rows, newest activity first; `limit` + 1 to see a next page.

    `search` matches the thread name or any message's text, case-insensitively and
    literally (% and _ are not wildcards). `cursor` is a `pageInfo.endCursor`: a position in
    (updated_at, id) order, so activity elsewhere never repeats or skips a thread.
    """
    query = (
        select(Thread, User.identifier)
        .join(User, User.id == Thread.user_id)
        .where(Thread.user_id == user_id)
    )
    if actor is not None:
        query = query.where(User.identifier == actor)
    if search:
        in_messages = exists().where(
            Step.thread_id == Thread.id,
            Step.type.like("%message"),
            Step.output.icontains(search, autoescape=True),
        )
        query = query.where(or_(Thread.name.icontains(search, autoescape=True), in_messages))
    if feedback is not None:
        query = query.where(
            exists().where(Feedback.thread_id == Thread.id, Feedback.value == feedback)
        )
    if cursor:
        moment, after_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Thread.updated_at < moment,
                and_(Thread.updated_at == moment, Thread.id < after_id),
            )
        )
    return query.order_by(Thread.updated_at.desc(), Thread.id.desc()).limit(limit + 1)
