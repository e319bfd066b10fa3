"""Single sign-on end to end: a local OpenID provider, a real Cadre server, a cookie jar.

Refusals: a wrong state, a replayed callback, a replayed id_token (its nonce belongs to an
earlier login), an `alg: none` id_token, one signed with another key, and an identity that
names an existing password account.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest

from tests.auth.helpers import TIMEOUT, get
from tests.auth.idp import Provider, cadre_with_sso, running_provider
from tests.support.server import ADMIN_USER, RunningServer, cadre_server

pytestmark = pytest.mark.slow  # starts a server


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, idp: Provider) -> Iterator[RunningServer]:
    with cadre_with_sso(
        tmp_path_factory.mktemp("data"), idp, CADRE_OIDC_ADMIN_GROUPS="cadre-admins"
    ) as running:
        yield running


_LOG_MARK: dict[str, int] = {}
"""Per server: how much of its log earlier tests wrote (a refusal must be this test's own)."""


@pytest.fixture(autouse=True)
def reset(idp: Provider, server: RunningServer) -> None:
    idp.mode = "normal"
    idp.next_user = {"sub": "u-1", "email": "Dana@Example.com", "name": "Dana"}
    _LOG_MARK[server.url] = len(server.log_text())


def _browser() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT)


def _start(browser: httpx.Client, server: RunningServer) -> httpx.Response:
    """Click the button: Cadre sends the browser to the provider, which sends it back."""
    to_provider = browser.get(f"{server.url}/auth/oidc/login")
    assert to_provider.status_code == 302, to_provider.text
    back = browser.get(to_provider.headers["location"])
    assert back.status_code == 302, back.text
    return back


def _finish(browser: httpx.Client, callback_url: str) -> httpx.Response:
    return browser.get(callback_url)


def _refused(
    response: httpx.Response, browser: httpx.Client, server: RunningServer, because: str
) -> None:
    """Sent back to the login page with an error, not logged in, for the stated reason."""
    assert response.status_code == 302
    assert response.headers["location"] == "/login?error=oauthSignin"
    assert "access_token" not in response.cookies
    assert browser.get(f"{server.url}/user").status_code == 401
    # The refusal is logged as the callback is answered; give the log a moment to show it.
    # Only what this test made the server log counts: earlier tests refused logins too.
    deadline = time.monotonic() + 30
    while True:
        written = server.log_text()[_LOG_MARK[server.url] :]
        refusals = [line for line in written.splitlines() if "refused a single" in line]
        if refusals or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(refusals) == 1, written
    assert because in refusals[0]


def _me(browser: httpx.Client, server: RunningServer) -> dict[str, object]:
    response = browser.get(f"{server.url}/user")
    assert response.status_code == 200, response.text
    me: dict[str, object] = response.json()
    return me


def test_the_login_page_offers_the_provider(server: RunningServer) -> None:
    config = get(f"{server.url}/auth/config").json()
    assert config["oauthProviders"] == ["Example SSO"]
    assert config["passwordAuth"] is True
    button = get(f"{server.url}/auth/oauth/Example SSO")
    assert button.status_code == 302
    assert button.headers["location"] == "/auth/oidc/login"


def test_a_user_signs_in_with_state_nonce_and_pkce(server: RunningServer, idp: Provider) -> None:
    with _browser() as browser:
        callback = _start(browser, server)
        done = _finish(browser, callback.headers["location"])
        assert done.status_code == 302
        assert done.headers["location"] == "/"
        me = _me(browser, server)

    assert me["identifier"] == "dana@example.com"
    assert me["display_name"] == "Dana"
    assert me["metadata"]["role"] == "member"  # type: ignore[index]
    sent = idp.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) >= 43
    assert sent["nonce"]
    assert sent["state"]
    assert sent["redirect_uri"] == f"{server.url}/auth/oidc/callback"
    assert "openid" in sent["scope"].split()
    assert len(idp.token_requests[-1]["code_verifier"]) >= 43


def test_admin_group_makes_an_admin(server: RunningServer, idp: Provider) -> None:
    idp.next_user = {"sub": "u-2", "email": "erin@example.com", "groups": ["cadre-admins"]}
    with _browser() as browser:
        _finish(browser, _start(browser, server).headers["location"])
        assert _me(browser, server)["metadata"]["role"] == "admin"  # type: ignore[index]


def test_wrong_state_is_refused(server: RunningServer) -> None:
    with _browser() as browser:
        callback = urlsplit(_start(browser, server).headers["location"])
        query = parse_qs(callback.query)
        forged = f"code={query['code'][0]}&state=forged-{query['state'][0]}"
        response = _finish(browser, urlunsplit(callback._replace(query=forged)))
        _refused(response, browser, server, "mismatching_state")


def test_a_callback_without_the_session_that_started_it_is_refused(
    server: RunningServer,
) -> None:
    with _browser() as browser:
        callback = _start(browser, server).headers["location"]
    with _browser() as other_browser:  # the attacker's browser, without the victim's session
        _refused(_finish(other_browser, callback), other_browser, server, "mismatching_state")


def test_a_replayed_callback_is_refused(server: RunningServer) -> None:
    with _browser() as browser:
        callback = _start(browser, server).headers["location"]
        session_before = dict(browser.cookies)
        assert _finish(browser, callback).headers["location"] == "/"
    with _browser() as replay:
        replay.cookies.update({k: v for k, v in session_before.items() if k == "cadre_oidc"})
        _refused(_finish(replay, callback), replay, server, "mismatching_state")


def test_a_replayed_id_token_and_nonce_are_refused(server: RunningServer, idp: Provider) -> None:
    with _browser() as browser:  # a first, good login: the provider keeps its id_token
        _finish(browser, _start(browser, server).headers["location"])
    idp.mode = "replay"
    with _browser() as browser:
        response = _finish(browser, _start(browser, server).headers["location"])
        _refused(response, browser, server, "Invalid claim: 'nonce'")


def test_an_unsigned_id_token_is_refused(server: RunningServer, idp: Provider) -> None:
    idp.mode = "alg_none"
    with _browser() as browser:
        callback = _start(browser, server).headers["location"]
        _refused(_finish(browser, callback), browser, server, "Algorithm of 'none' is not allowed")


def test_an_id_token_signed_with_another_key_is_refused(
    server: RunningServer, idp: Provider
) -> None:
    idp.mode = "other_key"
    with _browser() as browser:
        callback = _start(browser, server).headers["location"]
        _refused(_finish(browser, callback), browser, server, "bad_signature")


def test_single_sign_on_never_takes_over_a_password_account(
    server: RunningServer, idp: Provider
) -> None:
    idp.next_user = {"sub": "u-3", "email": ADMIN_USER, "groups": ["cadre-admins"]}
    with _browser() as browser:
        callback = _start(browser, server).headers["location"]
        _refused(_finish(browser, callback), browser, server, "belongs to a password account")


def test_an_unverified_email_is_refused(server: RunningServer, idp: Provider) -> None:
    idp.next_user = {"sub": "u-4", "email": "mallory@example.com", "email_verified": False}
    with _browser() as browser:
        callback = _start(browser, server).headers["location"]
        _refused(_finish(browser, callback), browser, server, "not verified")


def test_chainlits_own_oauth_callback_is_closed(server: RunningServer) -> None:
    response = get(f"{server.url}/auth/oauth/Example SSO/callback?code=x&state=y")
    assert response.status_code == 404
    assert "access_token" not in response.cookies


def test_without_settings_there_is_no_single_sign_on(tmp_path: Path) -> None:
    with cadre_server(tmp_path, wait_ready=False) as running:
        assert get(f"{running.url}/auth/config").json()["oauthProviders"] == []
        assert get(f"{running.url}/auth/oidc/login").status_code == 404
