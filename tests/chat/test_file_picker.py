"""The chat's file picker offers every kind of file Cadre reads, typed by the browser or not."""

from __future__ import annotations

import tomllib
from pathlib import Path

from knowledge.sniff import READABLE_EXTENSIONS

CONFIG = Path(__file__).resolve().parents[2] / ".chainlit" / "config.toml"


def _accept() -> dict[str, list[str]]:
    upload = tomllib.loads(CONFIG.read_text())["features"]["spontaneous_file_upload"]
    accept: dict[str, list[str]] = upload["accept"]
    return accept


def test_every_readable_extension_is_accepted_without_a_type() -> None:
    # Browsers send a file their OS has no MIME type for (.md, .eml, most code) untyped,
    # as application/octet-stream: only its extension lets the picker and Chainlit take it.
    untyped = set(_accept()["application/octet-stream"])
    assert sorted(READABLE_EXTENSIONS - untyped) == []
    assert sorted(untyped - READABLE_EXTENSIONS) == []  # nothing Cadre would then refuse


def test_typed_documents_are_accepted_whatever_their_extension() -> None:
    accept = _accept()
    for mime in ("application/pdf", "text/*", "message/rfc822", "image/png"):
        assert accept[mime] == [], mime
