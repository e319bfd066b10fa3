"""Who is asking the data layer: the user of the HTTP request or of the Chainlit session.

Chainlit's data-layer calls carry no caller; app/api/acting_user.py sets `acting_user` for
each HTTP request, and socket work runs inside a Chainlit session that names its user.
"""

from __future__ import annotations

from contextvars import ContextVar

from chainlit.context import ChainlitContextException, context

acting_user: ContextVar[str | None] = ContextVar("cadre_acting_user", default=None)
"""The identifier of the user the current HTTP request is authenticated as."""


def current_actor(explicit: str | None = None) -> str | None:
    """The actor's identifier: `explicit`, else the HTTP request's user, else the session's."""
    if explicit:
        return explicit
    if (requester := acting_user.get()) is not None:
        return requester
    try:
        user = context.session.user
    except ChainlitContextException:
        return None  # background work outside any request or session
    return user.identifier if user is not None else None
