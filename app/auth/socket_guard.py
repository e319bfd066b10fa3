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

import inspect
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
    handlers["client_message"] = _as_user_message(handlers["client_message"])
    handlers["edit_message"] = _user_edits_only(handlers["edit_message"])
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
    # Chainlit's CORS middleware, which wraps the socket app, already answers with the same
    # policy's headers; engineio adding its own would send Access-Control-Allow-Origin twice,
    # which browsers reject (cross-origin long-polling, as the copilot widget starts with).
    sio.eio._cors_headers = lambda environ: []
    sio.eio.max_http_buffer_size = SOCKET_BUFFER_BYTES


def _checked(
    sio: socketio.AsyncServer, directory: UserDirectory, event: str, handler: Handler
) -> Handler:
    signature = inspect.signature(handler)

    async def guarded(sid: str, *args: Any) -> Any:
        try:
            signature.bind(sid, *args)
        except TypeError:
            # A crafted client can send any number of arguments with any event; Chainlit's
            # handlers take a fixed number, and the mismatch was a traceback per event
            # (found by tests/security/test_fuzz_socket.py). Drop the event.
            log.warning("dropped a %r event with %d arguments", event, len(args))
            return None
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


MAX_MESSAGE_CHARS = 100_000
"""The longest chat message taken; longer text belongs in an attached file."""
SOCKET_BUFFER_BYTES = 4 * 2**20
"""The largest socket.io packet (engine.io drops the connection silently above it): room for
a message at the limit in any script, so the person hears why it was refused."""


def too_long(size: int) -> str:
    """The sentence a person reads when their message is over the limit."""
    return (
        f"Your message is too long ({size:,} characters; the limit is {MAX_MESSAGE_CHARS:,}). "
        "Attach the text as a file instead, and ask about it."
    )


async def _tell(session: WebsocketSession, text: str) -> None:
    from chainlit.context import init_ws_context
    from chainlit.message import ErrorMessage

    init_ws_context(session)
    await ErrorMessage(content=text, author="Cadre").send()


_MESSAGE_FIELDS = ("id", "threadId", "parentId", "createdAt", "output", "command", "metadata")


def _as_user_message(handler: Handler) -> Handler:
    """Everything a client sends is a user message, written by the signed-in user.

    Chainlit saves a `client_message` with the `type` and `name` the client chose, so a
    crafted one could be stored as the Chief of Staff and, on resume, be fed to the model as
    something the assistant said. Only the fields a user message has are passed on.
    """

    async def sent_by_user(sid: str, payload: Any = None) -> Any:
        session = WebsocketSession.get(sid)
        message = payload.get("message") if isinstance(payload, dict) else None
        if session is None or session.user is None or not isinstance(message, dict):
            log.warning("dropped a malformed client message")
            return None
        output = message.get("output")
        if not isinstance(output, str) or len(output) > MAX_MESSAGE_CHARS:
            size = len(output) if isinstance(output, str) else 0
            log.warning("refused a chat message of %d characters", size)
            await _tell(session, too_long(size))
            return None
        kept = {key: message[key] for key in _MESSAGE_FIELDS if key in message}
        metadata = kept.get("metadata")
        kept["metadata"] = metadata if isinstance(metadata, dict) else {}
        kept["metadata"].pop("cadre", None)  # the mark of an answer is the server's to set
        kept["type"] = "user_message"
        kept["name"] = session.user.identifier
        return await handler(sid, {**payload, "message": kept})

    sent_by_user.__name__ = getattr(handler, "__name__", "client_message")
    return sent_by_user


def _user_edits_only(handler: Handler) -> Handler:
    """A person may edit their own messages, never what the assistant said."""

    async def edit_own(sid: str, payload: Any = None) -> Any:
        from chainlit.chat_context import chat_context
        from chainlit.context import init_ws_context

        session = WebsocketSession.get(sid)
        message = payload.get("message") if isinstance(payload, dict) else None
        target = message.get("id") if isinstance(message, dict) else None
        if session is None or not isinstance(target, str):
            return None
        init_ws_context(session)
        stored = next((m for m in chat_context.get() if m.id == target), None)
        if stored is None or stored.type != "user_message":
            log.warning("refused an edit of message %r: not the user's own", target[:64])
            return None
        return await handler(sid, payload)

    edit_own.__name__ = getattr(handler, "__name__", "edit_message")
    return edit_own
