"""The API keys page (`/settings/keys`) over HTTP against a running Cadre, as a browser posts it.

Keys made on the page are used with the real `openai` client on `/v1/models`, so "works"
and "revoked" mean what a developer sees.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.cli import add_user, cadre, new_api_key
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, RunningServer, cadre_server

pytestmark = pytest.mark.slow  # starts a server

PAGE = "/settings/keys"
PARTNER = "http://partner.example"
"""An origin the chat and widget accept (CADRE_ALLOWED_ORIGINS): still no keys from there."""
SHOP = "http://shop.example"
"""A site registered for the widget: its pages may chat, never make keys."""
_TOKEN = re.compile(r'name="form_token" value="([0-9a-f]+)"')
_SECRET = re.compile(r'id="new-key-value"[^>]*value="(cadre-[^"]+)"')


@dataclass
class Site:
    server: RunningServer
    data: Path

    def browser(self, user: str, password: str = "a-long-password-1") -> httpx.Client:
        """A client that carries `user`'s login cookie."""
        return httpx.Client(
            base_url=self.server.url,
            headers={"cookie": self.server.login(user, password)},
            timeout=60,
        )

    def openai(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.server.url}/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("data")
    for user in ("alice", "bob"):
        add_user(data, user)
    added = cadre(data, "sites", "add", SHOP, "--name", "Shop")
    assert added.returncode == 0, added.stderr
    with cadre_server(data, wait_ready=False, CADRE_ALLOWED_ORIGINS=PARTNER) as server:
        yield Site(server, data)


def form_token(client: httpx.Client) -> str:
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    found = _TOKEN.search(page.text)
    assert found, page.text
    return found.group(1)


def create_key(client: httpx.Client, name: str, expires: str = "") -> tuple[str, httpx.Response]:
    """Post the create form as the page does; the secret shown and the response."""
    made = client.post(
        PAGE,
        data={"name": name, "expires_days": expires, "form_token": form_token(client)},
        headers={"origin": str(client.base_url).rstrip("/"), "sec-fetch-site": "same-origin"},
    )
    assert made.status_code == 200, made.text
    secret = _SECRET.search(made.text)
    assert secret, made.text
    return secret.group(1), made


def key_id(client: httpx.Client, secret: str) -> str:
    """The id in the revoke link of the row that shows `secret`'s prefix."""
    prefix = secret.split(".")[0]
    row = next(r for r in client.get(PAGE).text.split("<tr>") if prefix in r)
    found = re.search(r"/settings/keys/([0-9a-f-]{36})/revoke", row)
    assert found, row
    return found.group(1)


def row_of(client: httpx.Client, secret: str) -> str:
    prefix = secret.split(".")[0]
    return next(r for r in client.get(PAGE).text.split("<tr>") if prefix in r)


def test_signed_out_visitors_are_sent_to_login_and_cannot_post(site: Site) -> None:
    url = site.server.url
    page = httpx.get(url + PAGE, timeout=60)
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    posted = httpx.post(url + PAGE, data={"name": "x"}, timeout=60)
    assert posted.status_code == 401
    assert "sign in" in posted.text
    confirm = httpx.get(f"{url}{PAGE}/00000000-0000-0000-0000-000000000000/revoke", timeout=60)
    assert confirm.status_code == 303


def test_a_widget_visitor_gets_no_keys_page(site: Site) -> None:
    """A site's visitor holds a real login token for a real (anonymous) user: still no keys."""
    url = site.server.url
    widget = httpx.get(f"{url}/widget/token", headers={"origin": SHOP}, timeout=60)
    assert widget.status_code == 200, widget.text
    visitor = {"cookie": f"access_token={widget.json()['token']}"}
    page = httpx.get(url + PAGE, headers=visitor, timeout=60)
    assert page.status_code == 303
    posted = httpx.post(url + PAGE, data={"name": "x"}, headers=visitor, timeout=60)
    assert posted.status_code == 401


def test_the_page_has_the_chats_security_headers(site: Site) -> None:
    with site.browser("alice") as alice:
        page = alice.get(PAGE)
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["form-action"] == "'self'"
    assert policy["frame-ancestors"] == "'self'"
    assert "unsafe-inline" not in policy["script-src"]
    assert "http" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "<link" not in page.text.replace('<link rel="icon" href="/favicon">', "")


def test_a_new_key_is_shown_once_and_works_until_revoked(site: Site) -> None:
    with site.browser("alice") as alice:
        secret, made = create_key(alice, "laptop scripts", expires="30")
        assert "will not be shown again" in made.text
        assert made.headers["cache-control"] == "no-store"
        assert "script-src 'self' 'sha256-" in made.headers["content-security-policy"]

        listing = alice.get(PAGE)
        assert secret not in listing.text
        assert secret.split(".")[1] not in listing.text
        row = row_of(alice, secret)
        assert "laptop scripts" in row
        assert ">active<" in row
        assert row.count("<time") == 2  # created and expires; never used yet
        assert "never" in row

        models = site.openai(secret).models.list()
        assert "cadre" in [model.id for model in models.data]
        assert row_of(alice, secret).count("<time") == 3  # now it has been used

        ident = key_id(alice, secret)
        confirm = alice.get(f"{PAGE}/{ident}/revoke")
        assert confirm.status_code == 200
        assert "401 Unauthorized" in confirm.text
        assert site.openai(secret).models.list().data  # asking is not revoking

        revoked = alice.post(
            f"{PAGE}/{ident}/revoke",
            data={"form_token": form_token(alice)},
            headers={"origin": site.server.url, "sec-fetch-site": "same-origin"},
        )
        assert revoked.status_code == 303
        after = alice.get(revoked.headers["location"])
        assert "Revoked “laptop scripts”" in after.text
        assert ">revoked<" in row_of(alice, secret)
        assert f"{PAGE}/{ident}/revoke" not in after.text  # nothing left to revoke

    with pytest.raises(openai.AuthenticationError) as refused:
        site.openai(secret).models.list()
    assert refused.value.status_code == 401


def test_a_member_cannot_see_or_revoke_someone_elses_key(site: Site) -> None:
    with site.browser("bob") as bob:
        bobs, _ = create_key(bob, "bob's CI")
        bobs_id = key_id(bob, bobs)
    with site.browser("alice") as alice:
        assert bobs.split(".")[0] not in alice.get(PAGE).text
        assert alice.get(f"{PAGE}/{bobs_id}/revoke").status_code == 404
        refused = alice.post(
            f"{PAGE}/{bobs_id}/revoke",
            data={"form_token": form_token(alice)},
            headers={"origin": site.server.url},
        )
        assert refused.status_code == 404
        assert "not yours" in refused.text
    assert site.openai(bobs).models.list().data  # still works


def test_an_admin_sees_everyones_keys_and_may_revoke_them(site: Site) -> None:
    members = new_api_key(site.data, "bob")  # made with `cadre keys create`
    with site.browser(ADMIN_USER, ADMIN_PASSWORD) as admin:
        page = admin.get(PAGE).text
        assert "Everyone's keys" in page
        ident = key_id(admin, members)
        confirm = admin.get(f"{PAGE}/{ident}/revoke")
        assert "of bob?" in confirm.text
        done = admin.post(
            f"{PAGE}/{ident}/revoke",
            data={"form_token": form_token(admin)},
            headers={"origin": site.server.url},
        )
        assert done.status_code == 303
    with pytest.raises(openai.AuthenticationError):
        site.openai(members).models.list()


def test_cross_site_and_tokenless_posts_are_refused_and_make_nothing(site: Site) -> None:
    with site.browser("alice") as alice:
        before = alice.get(PAGE).text.count("<tr>")
        token = form_token(alice)
        attempts = [
            ({"origin": "http://evil.example"}, token),  # the origin policy's 403
            ({"origin": PARTNER}, token),  # allowed for the chat, never for keys
            ({"origin": SHOP}, token),  # a widget site: may chat, never make keys
            ({"sec-fetch-site": "cross-site"}, token),
            ({"origin": site.server.url}, ""),
            ({"origin": site.server.url}, "0" * 64),
        ]
        for headers, sent in attempts:
            refused = alice.post(PAGE, data={"name": "forged", "form_token": sent}, headers=headers)
            assert refused.status_code == 403, (headers, refused.text)
        assert "forged" not in alice.get(PAGE).text
        assert alice.get(PAGE).text.count("<tr>") == before
        # Another login gets another token: an old page's form no longer works there.
        time.sleep(1.1)  # a login token names the second it was issued
        with site.browser("alice") as again:
            stale = again.post(
                PAGE,
                data={"name": "forged", "form_token": token},
                headers={"origin": site.server.url},
            )
        assert stale.status_code == 403
        assert "reload the page" in stale.text


def test_bad_input_is_explained_and_the_name_kept(site: Site) -> None:
    with site.browser("alice") as alice:
        token = form_token(alice)
        long_name = alice.post(PAGE, data={"name": "n" * 101, "form_token": token})
        assert long_name.status_code == 400
        assert 'role="alert"' in long_name.text
        assert "at most 100 characters" in long_name.text
        odd_expiry = alice.post(
            PAGE, data={"name": "tablet", "expires_days": "forever", "form_token": token}
        )
        assert odd_expiry.status_code == 400
        assert "Choose when the key expires" in odd_expiry.text
        assert 'value="tablet"' in odd_expiry.text
        assert not _SECRET.search(odd_expiry.text)


def test_a_key_name_is_shown_as_text_never_as_markup(site: Site) -> None:
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    with site.browser("bob") as bob:
        _, made = create_key(bob, hostile)
        listing = bob.get(PAGE).text
    for page in (made.text, listing):
        assert "<script>alert(1)" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_chat_page_links_to_the_keys_page(site: Site) -> None:
    """The header link comes from Chainlit's config, which the browser reads at start."""
    with site.browser("alice") as alice:
        config = alice.get("/project/settings", params={"language": "en-US"}).json()
    [link] = config["ui"]["header_links"]
    assert (link["url"], link["icon_url"]) == (PAGE, "/public/key.svg")
    assert httpx.get(site.server.url + link["icon_url"], timeout=60).status_code == 200
