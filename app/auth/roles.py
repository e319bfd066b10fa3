"""Server-side role checks: `has_role` reads the user's row as it is now; `Forbidden` refuses.

`POST /project/action` runs any registered `@cl.action_callback` with a payload the client
chose, whether or not the action was ever shown to that user; chat profiles and the socket's
`clientType` are client-chosen too. So permissions are never inferred from what the UI
offered: every admin-only entry point checks `has_role`, which reads the user's row
(role and disabled flag as they are now, not as they were at login); Chainlit callbacks
use the `require_role` decorator of app/chat/roles.py.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException

from app.auth.errors import AuthError
from app.auth.users import UserDirectory, check_role

log = logging.getLogger(__name__)


class Forbidden(AuthError, HTTPException):  # noqa: N818 (reads as the HTTP status it is)
    """The user may not do this; also an HTTP 403 when raised inside a route."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        HTTPException.__init__(self, status_code=403, detail=message)


async def has_role(directory: UserDirectory, identifier: str | None, role: str) -> bool:
    """Whether `identifier` is an enabled user with `role` (an admin has every role)."""
    check_role(role)
    if not identifier:
        return False
    account = await directory.get(identifier)
    if account is None or account.disabled:
        return False
    return account.role == "admin" or account.role == role


_ACTION_ROLES: dict[str, str] = {}


def restrict_action(name: str, role: str) -> None:
    """Only users with `role` may call the Chainlit action `name` (checked by the action route).

    Chainlit runs an action callback inside a wrapper that logs and swallows any exception,
    so a refusal raised inside the callback would still answer 200; the route checks first.
    """
    check_role(role)
    _ACTION_ROLES[name] = role


def action_role(name: str) -> str | None:
    """The role the action `name` needs, if it is restricted."""
    return _ACTION_ROLES.get(name)
