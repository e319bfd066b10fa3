"""Users, login and the security checks around Chainlit.

`install(app, settings, services)` wires everything into the FastAPI app before Chainlit is
mounted: the signing secret, revocation of tokens, the origin policy (CORS, socket.io
handshake, state-changing requests), the socket handshake checks and the single sign-on
routes. `bootstrap(settings, services)` creates the first admin from settings at start.
Chainlit's login callbacks live in `app.auth.hooks` (imported by app/chat/handlers.py).
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import TYPE_CHECKING, Any

from app.auth.errors import (
    AuthConfigError,
    AuthError,
    InvalidUserNameError,
    SingleSignOnError,
    UnknownUserError,
    UserExistsError,
    WeakPasswordError,
)
from app.auth.users import Account, UserDirectory

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.auth.roles import Forbidden, has_role
    from app.services import Services
    from app.settings import Settings

__all__ = [
    "Account",
    "AuthConfigError",
    "AuthError",
    "Forbidden",
    "InvalidUserNameError",
    "SingleSignOnError",
    "UnknownUserError",
    "UserDirectory",
    "UserExistsError",
    "WeakPasswordError",
    "bootstrap",
    "has_role",
    "install",
]

log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    # The role helpers import Starlette; `cadre users` commands need not pay for that.
    if name in ("Forbidden", "has_role"):
        from app.auth import roles

        return getattr(roles, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def install(app: FastAPI, settings: Settings, services: Services) -> None:
    """Turn on login and the security checks; call after the app's own middleware."""
    from chainlit.server import sio

    from app.auth.origins import OriginCheckMiddleware, OriginPolicy, restrict_chainlit_cors
    from app.auth.routes import include_auth_routes
    from app.auth.secret import ensure_auth_secret
    from app.auth.socket_guard import guard_socket
    from app.auth.throttle import LoginAddressMiddleware
    from app.auth.tokens import RevocationMiddleware

    secret = ensure_auth_secret(settings)
    directory = UserDirectory(services.data_layer)
    policy = OriginPolicy.of(settings.allowed_origins, settings.public_url)
    app.state.origin_policy = policy  # the widget's token route keeps policy.sites fresh
    restrict_chainlit_cors(policy)
    guard_socket(sio, policy, directory)
    # Added last = runs first: refuse foreign origins, then drop revoked tokens.
    app.add_middleware(RevocationMiddleware, directory=directory)
    app.add_middleware(LoginAddressMiddleware)
    app.add_middleware(OriginCheckMiddleware, policy=policy)
    include_auth_routes(app, settings, directory, secret)


FIRST_ADMIN = "admin"
FIRST_PASSWORD_FILE = "first-admin-password.txt"  # nosec B105  # a file name, not a password


async def _first_start_admin(settings: Settings, users: UserDirectory) -> None:
    """On a brand-new installation, create `admin` with a random password and say where it is.

    Nobody can sign in to a fresh install otherwise; the password goes to the log and to a
    file only the server's user can read, and `cadre users set-password admin` changes it.
    """
    if await users.has_admin() or await users.list():
        return
    password = secrets.token_urlsafe(12)
    try:
        await users.add(FIRST_ADMIN, password, role="admin")
    except UserExistsError:
        return  # another server process starting at the same moment made it (and says so)
    note = settings.data_dir / FIRST_PASSWORD_FILE
    # Created private (0600) rather than chmod-ed afterwards: never readable by others.
    fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"{FIRST_ADMIN}\n{password}\n")
    note.chmod(0o600)  # an older file may have been created with wider permissions
    log.warning(
        "first start: sign in as %r with password %r (also in %s); change it with "
        "`cadre users set-password %s`",
        FIRST_ADMIN,
        password,
        note,
        FIRST_ADMIN,
    )


async def bootstrap(settings: Settings, services: Services) -> None:
    """Create the first admin from `CADRE_ADMIN_USER` / `CADRE_ADMIN_PASSWORD` if none exists."""
    if not settings.admin_user:
        await _first_start_admin(settings, UserDirectory(services.data_layer))
        return
    if settings.admin_password is None:
        raise AuthConfigError("CADRE_ADMIN_USER is set but CADRE_ADMIN_PASSWORD is not")
    created = await UserDirectory(services.data_layer).ensure_admin(
        settings.admin_user, settings.admin_password.get_secret_value()
    )
    if created is not None:
        log.warning("created the first admin, %r, from settings", created.identifier)
