"""`Authorization: Bearer <API key>` for Cadre's HTTP APIs, as a FastAPI dependency.

`ApiKeyAuth(store)` is a dependency that returns the `KeyHolder` a request's key acts for,
or answers 401 (with `WWW-Authenticate: Bearer`) when the key is missing or may not be used.
An API whose errors have another shape (the OpenAI-compatible one) passes `on_error` to
raise its own exception instead. Key requests carry no cookie and no Origin, so the
browser-facing checks (origin policy, login tokens) let them through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import HTTPException, Request

from app.auth.api_keys import ApiKeyStore, InvalidApiKeyError, KeyHolder

log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_token(request: Request) -> str | None:
    """The credential of `Authorization: Bearer …`, if the request has one."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def _http_401(message: str) -> Exception:
    return HTTPException(status_code=401, detail=message, headers=_CHALLENGE)


class ApiKeyAuth:
    """A dependency: the holder of the request's API key, or a 401."""

    def __init__(
        self, store: ApiKeyStore, on_error: Callable[[str], Exception] = _http_401
    ) -> None:
        self._store = store
        self._on_error = on_error

    async def __call__(self, request: Request) -> KeyHolder:
        secret = bearer_token(request)
        if secret is None:
            raise self._on_error(
                "No API key: send 'Authorization: Bearer <key>' (create one on the API keys "
                "page, /settings/keys, or with `cadre keys create USER`)."
            )
        try:
            holder = await self._store.authenticate(secret)
        except InvalidApiKeyError as exc:
            log.info("refused an API key on %s: %s", request.url.path, exc)
            raise self._on_error(f"Invalid API key: {exc}.") from None
        request.state.api_key = holder
        return holder
