"""`/settings/keys`: the signed-in person's API keys page (list, create, revoke).

Served by our FastAPI app under Chainlit's login cookie, as plain HTML forms that need no
JavaScript. A new key's secret is in the one response that created it (sent `no-store`),
never in a later page, a log or the chat history. Members see and revoke only their own
keys (someone else's key id is answered 404, as if it did not exist); admins also see and
may revoke everyone's; the widget's visitors get nothing. Every form post must come from
Cadre's own origin and carry the session's form token (app/auth/form_tokens.py). API keys
cannot manage keys: only a login.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from chainlit.auth.cookie import get_token_from_cookies
from chainlit.auth.jwt import get_jwt_secret
from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.api.keys_html import (
    EXPIRY_CHOICES,
    NAME_LIMIT,
    PAGE_PATH,
    KeysView,
    confirm_revoke_page,
    keys_page,
    message_page,
)
from app.api.page import page_policy
from app.api.principal import signed_in_person
from app.auth.api_keys import ApiKeyStore, KeyInfo, UnknownApiKeyError
from app.auth.form_tokens import form_token, same_origin, valid_form_token
from app.auth.users import Account, UserDirectory
from app.services import Services

log = logging.getLogger(__name__)

LOGIN_PATH = "/login"


@dataclass(frozen=True)
class _Visitor:
    """The signed-in person and the login token their cookie carries."""

    account: Account
    login_token: str

    @property
    def owner_filter(self) -> str | None:
        """Whose keys this person may touch: their own, or (admins) anyone's."""
        return None if self.account.role == "admin" else self.account.id


def _html(body: str, status: int = 200) -> HTMLResponse:
    """An HTML response that no cache keeps, under the same policy as the chat's page."""
    return HTMLResponse(
        body,
        status,
        headers={
            "cache-control": "no-store",
            "content-security-policy": page_policy(body.encode()),
            "x-content-type-options": "nosniff",
            "referrer-policy": "same-origin",  # see app/api/keys_html.py
        },
    )


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name, "")
    return value if isinstance(value, str) else None  # a file where text belongs


def keys_page_router(services: Services) -> APIRouter:
    """The API keys page and its forms."""
    router = APIRouter(include_in_schema=False)
    users = UserDirectory(services.data_layer)
    keys = ApiKeyStore(services.data_layer)
    public_url = services.settings.public_url

    async def signed_in(request: Request) -> _Visitor | None:
        # Revoked tokens never get here: RevocationMiddleware drops them from the request.
        token = get_token_from_cookies(dict(request.cookies))
        account = await signed_in_person(users, token)
        if token is None or account is None:
            return None  # nobody, or a site's anonymous visitor: keys are for people who sign in
        return _Visitor(account, token)

    def token_of(visitor: _Visitor) -> str:
        return form_token(get_jwt_secret() or "", visitor.login_token)

    def api_base(request: Request) -> str:
        root = public_url or str(request.base_url)
        return root.rstrip("/") + "/v1"

    async def view(visitor: _Visitor, request: Request) -> KeysView:
        admin = visitor.owner_filter is None
        return KeysView(
            identifier=visitor.account.identifier,
            form_token=token_of(visitor),
            api_base=api_base(request),
            mine=await keys.list(visitor.account.identifier),
            everyone=await keys.list_all() if admin else None,
        )

    def signed_out() -> HTMLResponse:
        text = "You are signed out (or your session ended): sign in, then open this page again."
        return _html(message_page("Sign in first", text, link=LOGIN_PATH), 401)

    async def forged(request: Request, visitor: _Visitor, form: FormData) -> HTMLResponse | None:
        """A 403 page when the post did not come from this page on Cadre's own origin."""
        if not same_origin(request, public_url):
            reason = "This form was sent from another web site, so Cadre refused it."
        elif not valid_form_token(
            get_jwt_secret() or "", visitor.login_token, _field(form, "form_token")
        ):
            reason = "This form is out of date (you signed in again since): reload the page."
        else:
            return None
        log.warning(
            "refused %s %s for %r: %s (origin %r)",
            request.method,
            request.url.path,
            visitor.account.identifier,
            reason,
            request.headers.get("origin"),
        )
        page = message_page(
            "Request refused", reason, identifier=visitor.account.identifier, link=PAGE_PATH
        )
        return _html(page, 403)

    def not_found(visitor: _Visitor) -> HTMLResponse:
        text = "You have no API key with that id: it may have been deleted, or it is not yours."
        page = message_page(
            "No such key", text, identifier=visitor.account.identifier, link=PAGE_PATH
        )
        return _html(page, 404)

    @router.get(PAGE_PATH)
    async def show(request: Request, revoked: str | None = None) -> Response:
        visitor = await signed_in(request)
        if visitor is None:
            return RedirectResponse(LOGIN_PATH, 303)
        page = await view(visitor, request)
        return _html(keys_page(replace(page, notice=_revoked_notice(page, revoked))))

    @router.post(PAGE_PATH)
    async def create(request: Request) -> Response:
        visitor = await signed_in(request)
        if visitor is None:
            return signed_out()
        form = await request.form()
        if refusal := await forged(request, visitor, form):
            return refusal
        name = " ".join((_field(form, "name") or "").split())
        expires = _field(form, "expires_days") or ""
        error = None
        if len(name) > NAME_LIMIT:
            error = f"The name is too long: use at most {NAME_LIMIT} characters."
        elif expires not in EXPIRY_CHOICES:
            error = "Choose when the key expires from the list."
        if error is not None:
            page = replace(await view(visitor, request), error=error, name=name[:NAME_LIMIT])
            return _html(keys_page(page), 400)
        days = EXPIRY_CHOICES[expires]
        made = await keys.create(
            visitor.account.identifier, name, expires_in=timedelta(days=days) if days else None
        )
        log.info(
            "%s created API key %s on the keys page", visitor.account.identifier, made.info.prefix
        )
        return _html(keys_page(replace(await view(visitor, request), created=made)))

    @router.get(PAGE_PATH + "/{key_id}/revoke")
    async def confirm(request: Request, key_id: str) -> Response:
        visitor = await signed_in(request)
        if visitor is None:
            return RedirectResponse(LOGIN_PATH, 303)
        try:
            info = await keys.get(key_id, owner_id=visitor.owner_filter)
        except UnknownApiKeyError:
            return not_found(visitor)
        if info.state != "active":
            return RedirectResponse(f"{PAGE_PATH}?revoked={info.id}", 303)
        owner = await _owner_name(keys, visitor, info)
        return _html(
            confirm_revoke_page(visitor.account.identifier, token_of(visitor), info, owner)
        )

    @router.post(PAGE_PATH + "/{key_id}/revoke")
    async def revoke(request: Request, key_id: str) -> Response:
        visitor = await signed_in(request)
        if visitor is None:
            return signed_out()
        if refusal := await forged(request, visitor, await request.form()):
            return refusal
        try:
            info = await keys.revoke(key_id, owner_id=visitor.owner_filter)
        except UnknownApiKeyError:
            return not_found(visitor)
        log.info("%s revoked API key %s on the keys page", visitor.account.identifier, info.prefix)
        return RedirectResponse(f"{PAGE_PATH}?revoked={info.id}", 303)

    return router


def _revoked_notice(page: KeysView, key_id: str | None) -> str | None:
    """'Revoked …' when `key_id` names a revoked key this person can see; else nothing."""
    if not key_id:
        return None
    visible = [*page.mine, *(info for _, info in page.everyone or [])]
    for info in visible:
        if info.id == key_id and info.state == "revoked":
            return f"Revoked “{info.name}” ({info.prefix}): programs using it now get 401."
    return None


async def _owner_name(keys: ApiKeyStore, visitor: _Visitor, info: KeyInfo) -> str:
    if info.user_id == visitor.account.id:
        return visitor.account.identifier
    owners = {key.id: owner for owner, key in await keys.list_all()}
    return owners.get(info.id, "another user")
