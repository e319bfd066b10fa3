"""Single sign-on in a real Chromium: the login page's button, the provider, back logged in."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auth.idp import Provider, cadre_with_sso, running_provider
from tests.support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ["CADRE_SCREENSHOTS"]) if os.environ.get("CADRE_SCREENSHOTS") else None

if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, idp: Provider) -> Iterator[RunningServer]:
    with cadre_with_sso(tmp_path_factory.mktemp("data"), idp) as running:
        yield running


def test_a_person_signs_in_with_the_sso_button(server: RunningServer, idp: Provider) -> None:
    idp.next_user = {"sub": "u-9", "email": "quinn@example.com", "name": "Quinn Doe"}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server.url)
            button = page.get_by_role("button", name="Continue with Example SSO")
            expect(button).to_be_visible(timeout=30_000)
            expect(page.locator("#email")).to_be_visible()  # passwords still work too
            if SHOTS is not None:
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / "0-login-sso.png"))
            button.click()
            expect(page.locator("#chat-input")).to_be_visible(timeout=30_000)
            me = page.request.get(f"{server.url}/user").json()
        finally:
            browser.close()
    assert me["identifier"] == "quinn@example.com"
    assert idp.authorize_requests[-1]["code_challenge_method"] == "S256"
