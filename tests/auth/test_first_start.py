"""A brand-new install can be signed in to: the first start makes an admin and says how."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from tests.support.server import cadre_server

NO_PRESET_ADMIN = {"CADRE_ADMIN_USER": "", "CADRE_ADMIN_PASSWORD": ""}


def test_the_first_start_creates_an_admin_and_tells_its_password(tmp_path: Path) -> None:
    with cadre_server(tmp_path, wait_ready=False, **NO_PRESET_ADMIN) as running:
        note = tmp_path / "first-admin-password.txt"
        name, password = note.read_text().split()
        assert stat.S_IMODE(note.stat().st_mode) == 0o600
        assert password in running.log_text()  # the person starting it sees it

        signed_in = httpx.post(
            f"{running.url}/login", data={"username": name, "password": password}
        )
        assert signed_in.status_code == 200
        assert running.login(name, password)

    with cadre_server(tmp_path, wait_ready=False, **NO_PRESET_ADMIN) as again:
        assert note.read_text().split() == [name, password]  # made once, never replaced
        assert again.login(name, password)
