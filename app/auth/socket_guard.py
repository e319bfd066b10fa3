"""Checks on Chainlit's socket.io server: the handshake payload, the Origin, revoked tokens.

Chainlit trusts the client's `auth` payload: `sessionId` becomes a folder name under
`.files/` that is deleted with `shutil.rmtree` when the session ends (a `../` or absolute
path deletes any folder the server can write), and `chatProfile` / `clientType` are taken as
sent. Cadre wraps Chainlit's `connect` handler to refuse what is not well-formed, and wraps
every other event handler so a revoked user's socket is cut at their next event.

Chat profiles and `clientType` never grant access to anything: Cadre keeps no permission
on them, every permission check reads the user's row (see `app.auth.roles`). They are
validated here only so that a crafted value changes nothing at all.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import socketio
from chainlit.config import config
from chainlit.session import WebsocketSession

from app.auth.origins import OriginPolicy
from app.auth.tokens import read_token, revocation_reason
from app.auth.users import UserDirectory

log = logging.getLogger(__name__)

CLIENT_TYPES = frozenset({"webapp", "copilot"})
"""The clients that connect over the socket (Slack, Teams and Discord never do)."""
_MAX_PROFILE = 255

Handler = Callable[..., Awaitable[Any]]


def is_canonical_uuid(value: object) -> bool:
    """Whether `value` is a UUID written as `8-4-4-4-12` lower-case hex (nothing else)."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def check_handshake(auth: object) -> dict[str, Any]:
    """The socket `auth` payload if it is well-formed; `ConnectionRefusedError` if not."""
    if not isinstance(auth, dict):
        raise ConnectionRefusedError("invalid connection payload")
    if not is_canonical_uuid(auth.get("sessionId")):
        raise ConnectionRefusedError("sessionId must be a UUID")
    thread_id = auth.get("threadId")
    if thread_id not in (None, "") and not is_canonical_uuid(thread_id):
        raise ConnectionRefusedError("threadId must be a UUID")
    if auth.get("clientType") not in CLIENT_TYPES:
        raise ConnectionRefusedError("unknown client type")
    user_env = auth.get("userEnv")
    if user_env not in (None, ""):
        try:
            parsed = json.loads(user_env) if isinstance(user_env, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ConnectionRefusedError("userEnv must be a JSON object")
    profile = auth.get("chatProfile")
    if profile not in (None, "") and (not isinstance(profile, str) or len(profile) > _MAX_PROFILE):
        raise ConnectionRefusedError("invalid chat profile")
    return auth


async def _allowed_profile(profile: str, environ: dict[str, Any]) -> bool:
    """Whether `profile` is one the app offers to the connecting user."""
    if config.code.set_chat_profiles is None:
        return False
    from chainlit.data import get_data_layer
    from chainlit.socket import _get_token

    token = _get_token(environ)
    claims = read_token(token) if token else None
    data_layer = get_data_layer()
    user = await data_layer.get_user(claims.identifier) if claims and data_layer else None
    offered = await config.code.set_chat_profiles(user, None) or []
    return any(getattr(option, "name", None) == profile for option in offered)


def guard_socket(sio: socketio.AsyncServer, policy: OriginPolicy, directory: UserDirectory) -> None:
    """Install the handshake, Origin and revocation checks on Chainlit's socket server."""
    handlers: dict[str, Handler] = sio.handlers["/"]
    chainlit_connect = handlers["connect"]

    async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> Any:
        payload = check_handshake(auth)
        profile = payload.get("chatProfile")
        if profile and not await _allowed_profile(unquote(profile), environ):
            # Not offered to this user: start with the default profile instead.
            log.warning("ignored chat profile %r the app does not offer", profile[:80])
            payload = {**payload, "chatProfile": None}
        return await chainlit_connect(sid, environ, payload)

    handlers["connect"] = connect
    for event, handler in list(handlers.items()):
        if event not in ("connect", "disconnect"):
            handlers[event] = _checked(sio, directory, event, handler)

    def origin_allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        allowed = policy.allows_environ(origin, environ)
        if not allowed:
            log.warning("refused a socket connection from origin %r", origin)
        return allowed

    # python-engineio calls this for every handshake that carries an Origin header.
    sio.eio.cors_allowed_origins = origin_allowed


def _checked(
    sio: socketio.AsyncServer, directory: UserDirectory, event: str, handler: Handler
) -> Handler:
    async def guarded(sid: str, *args: Any) -> Any:
        session = WebsocketSession.get(sid)
        token = session.token if session is not None else None
        if token and (reason := await revocation_reason(directory, token)):
            log.info("closed a socket on %r: %s", event, reason)
            assert session is not None
            session.to_clear = True  # end the session now, not after the timeout
            await sio.disconnect(sid)
            return None
        return await handler(sid, *args)

    guarded.__name__ = getattr(handler, "__name__", event)
    return guarded
