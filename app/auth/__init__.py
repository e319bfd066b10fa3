"""Users, login and the security checks around Chainlit.

`install(app, settings, services)` wires everything into the FastAPI app before Chainlit is
mounted: the signing secret, revocation of tokens, the origin policy (CORS, socket.io
handshake, state-changing requests), the socket handshake checks and the single sign-on
routes. `bootstrap(settings, services)` creates the first admin from settings at start.
Chainlit's login callbacks live in `app.auth.hooks` (imported by app/chat.py).
"""

from __future__ import annotations

import logging
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

    from app.auth.roles import Forbidden, has_role, require_role
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
    "require_role",
]

log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    # The role helpers import Chainlit; `cadre users` commands must not pay for (or run) that.
    if name in ("Forbidden", "has_role", "require_role"):
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
    from app.auth.tokens import RevocationMiddleware

    secret = ensure_auth_secret(settings)
    directory = UserDirectory(services.data_layer)
    policy = OriginPolicy.of(settings.allowed_origins, settings.public_url)
    restrict_chainlit_cors(policy)
    guard_socket(sio, policy, directory)
    # Added last = runs first: refuse foreign origins, then drop revoked tokens.
    app.add_middleware(RevocationMiddleware, directory=directory)
    app.add_middleware(OriginCheckMiddleware, policy=policy)
    include_auth_routes(app, settings, directory, secret)


async def bootstrap(settings: Settings, services: Services) -> None:
    """Create the first admin from `CADRE_ADMIN_USER` / `CADRE_ADMIN_PASSWORD` if none exists."""
    if not settings.admin_user:
        if not await UserDirectory(services.data_layer).has_admin():
            log.warning(
                "no admin exists yet: run `cadre users add NAME --admin`, or set "
                "CADRE_ADMIN_USER and CADRE_ADMIN_PASSWORD before starting"
            )
        return
    if settings.admin_password is None:
        raise AuthConfigError("CADRE_ADMIN_USER is set but CADRE_ADMIN_PASSWORD is not")
    created = await UserDirectory(services.data_layer).ensure_admin(
        settings.admin_user, settings.admin_password.get_secret_value()
    )
    if created is not None:
        log.warning("created the first admin, %r, from settings", created.identifier)
