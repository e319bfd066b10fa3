"""A small OpenID Connect provider for tests: discovery, authorize (code + PKCE), token, JWKS.

It runs on uvicorn in a thread on loopback with RS256 keys made at start (joserfc, authlib's
JOSE library). Each login signs in `next_user`; `mode` makes it misbehave the ways an
attacker or a broken provider would: an unsigned (`alg: none`) id_token, one signed with
another key, or the first id_token it ever issued replayed (with that login's nonce).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.local_http import serving
from tests.support.server import RunningServer, cadre_server, free_port

Mode = Literal["normal", "alg_none", "other_key", "replay"]
CLIENT_ID = "cadre-test"
CLIENT_SECRET = "cadre-test-secret"
KID = "test-key-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Provider:
    """The provider's state; tests set `next_user` and `mode` and read `authorize_requests`."""

    url: str
    next_user: dict[str, Any] = field(
        default_factory=lambda: {"sub": "u-1", "email": "dana@example.com", "name": "Dana"}
    )
    mode: Mode = "normal"
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    key: RSAKey = field(default_factory=lambda: _new_key())
    other_key: RSAKey = field(default_factory=lambda: _new_key())
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _first_id_token: str | None = None

    @property
    def discovery_url(self) -> str:
        """Where Cadre reads the provider's metadata."""
        return f"{self.url}/.well-known/openid-configuration"

    def app(self) -> Starlette:
        """The provider's HTTP routes."""
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/jwks", self._jwks),
            ]
        )

    async def _discovery(self, _: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    async def _jwks(self, _: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        if params.get("client_id") != CLIENT_ID or params.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, 400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = {"params": params, "user": dict(self.next_user)}
        query = urlencode({"code": code, "state": params.get("state", "")})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", 302)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        if not self._client_authenticated(request, form):
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self._codes.pop(form.get("code", ""), None)  # codes work once
        if grant is None or form.get("redirect_uri") != grant["params"]["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        params = grant["params"]
        verifier = form.get("code_verifier", "")
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        if params.get("code_challenge_method") != "S256" or challenge != params.get(
            "code_challenge"
        ):
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        id_token = self._id_token(grant["user"], params.get("nonce"))
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }
        )

    def _client_authenticated(self, request: Request, form: dict[str, str]) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            client, _, secret = base64.b64decode(value).decode().partition(":")
            return client == CLIENT_ID and secret == CLIENT_SECRET
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    def _id_token(self, user: dict[str, Any], nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "aud": CLIENT_ID, "iat": now, "exp": now + 300, **user}
        if nonce is not None:
            claims["nonce"] = nonce
        if self.mode == "alg_none":
            header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        key = self.other_key if self.mode == "other_key" else self.key
        token = jwt.encode({"alg": "RS256", "kid": KID}, claims, key)
        if self._first_id_token is None:
            self._first_id_token = token
        if self.mode == "replay":
            return self._first_id_token
        return token


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})


@contextmanager
def running_provider() -> Iterator[Provider]:
    """A provider serving on a free loopback port until the block ends."""
    port = free_port()
    provider = Provider(url=f"http://127.0.0.1:{port}")
    with serving(provider.app(), "test-idp", port):
        yield provider


@contextmanager
def cadre_with_sso(data_dir: Path, provider: Provider, **env: str) -> Iterator[RunningServer]:
    """A Cadre server whose single sign-on points at `provider` (button: "Example SSO")."""
    # Ready first: the model loading in the background would compete with the login flow
    # for both cores, and the sign-in tests are about the flow.
    with cadre_server(
        data_dir,
        CADRE_OIDC_DISCOVERY_URL=provider.discovery_url,
        CADRE_OIDC_CLIENT_ID=CLIENT_ID,
        CADRE_OIDC_CLIENT_SECRET=CLIENT_SECRET,
        CADRE_OIDC_NAME="Example SSO",
        **env,
    ) as running:
        yield running
