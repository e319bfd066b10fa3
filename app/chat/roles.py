"""`require_role`: only users with a role may run a Chainlit action callback or handler.

`POST /project/action` runs any registered `@cl.action_callback` with a payload the client
chose, whether or not the action was ever shown to that user, so the check runs on the
server, against the user's row as it is now (app/auth/roles.py).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from chainlit.context import ChainlitContextException, context

from app.auth.roles import Forbidden, has_role
from app.auth.users import UserDirectory, check_role

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def session_identifier() -> str | None:
    """The identifier of the user of the current Chainlit session, if any."""
    try:
        user = context.session.user
    except ChainlitContextException:
        return None
    return user.identifier if user is not None else None


def require_role(
    role: str, directory: Callable[[], UserDirectory] | None = None
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate an action callback (or any session handler) so only `role` may run it.

    Refusals raise `Forbidden` and run nothing. Put it under `@cl.action_callback(...)`;
    Chainlit's wrapper swallows the exception (the request still answers 200), so also
    `restrict_action` the name (app/auth/roles.py) for the action route to answer 403.
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

        # Chainlit's wrapper copies this (functools.wraps), so tests can read every registered
        # callback's role (tests/security/test_roles.py).
        checked.required_role = role  # type: ignore[attr-defined]
        return checked

    return decorate


def _default_directory() -> UserDirectory:
    from app import services

    return UserDirectory(services.current().data_layer)
