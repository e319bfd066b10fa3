"""Server-side role checks for actions and admin-only features.

`POST /project/action` runs any registered `@cl.action_callback` with a payload the client
chose, whether or not the action was ever shown to that user; chat profiles and the socket's
`clientType` are client-chosen too. So permissions are never inferred from what the UI
offered: every admin-only entry point calls `require_role`, which reads the user's row
(role and disabled flag as they are now, not as they were at login).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from chainlit.context import ChainlitContextException, context
from starlette.exceptions import HTTPException

from app.auth.errors import AuthError
from app.auth.users import UserDirectory, check_role

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class Forbidden(AuthError, HTTPException):  # noqa: N818 (reads as the HTTP status it is)
    """The user may not do this; also an HTTP 403 when raised inside a route."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        HTTPException.__init__(self, status_code=403, detail=message)


def session_identifier() -> str | None:
    """The identifier of the user of the current Chainlit session, if any."""
    try:
        user = context.session.user
    except ChainlitContextException:
        return None
    return user.identifier if user is not None else None


async def has_role(directory: UserDirectory, identifier: str | None, role: str) -> bool:
    """Whether `identifier` is an enabled user with `role` (an admin has every role)."""
    check_role(role)
    if not identifier:
        return False
    account = await directory.get(identifier)
    if account is None or account.disabled:
        return False
    return account.role == "admin" or account.role == role


def require_role(
    role: str, directory: Callable[[], UserDirectory] | None = None
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate an action callback (or any session handler) so only `role` may run it.

    Refusals raise `Forbidden` (an HTTP 403 from `/project/action`) and run nothing.
    Put it under `@cl.action_callback(...)`.
    """
    check_role(role)

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(func)
        async def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            users = directory() if directory is not None else _default_directory()
            identifier = session_identifier()
            if not await has_role(users, identifier, role):
                log.warning("refused %s to %r: needs role %s", func.__name__, identifier, role)
                raise Forbidden(f"this needs the {role} role")
            return await func(*args, **kwargs)

        return checked

    return decorate


def _default_directory() -> UserDirectory:
    from app import services

    return UserDirectory(services.current().data_layer)
