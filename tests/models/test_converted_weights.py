"""The transformers runtime's converted weights are checked by sha256 before every load."""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import pytest

from agents.models.local import bundled_gguf
from agents.models.local.transformers_runtime import (
    CHECKSUMS,
    cached_weights_problem,
    converted_weights,
    record_checksums,
)


def _converted_folder(root: Path) -> Path:
    """A folder shaped like a conversion (contents do not matter to the checksums)."""
    folder = root / "SmolLM2-135M-Instruct.Q4_1.transformers"
    (folder / "nested").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (folder / "nested" / "extra.json").write_text("{}")
    record_checksums(folder)
    return folder


def _flip_a_byte_keeping_the_time(path: Path) -> None:
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_an_untouched_folder_passes(tmp_path: Path) -> None:
    assert cached_weights_problem(_converted_folder(tmp_path)) is None


def test_a_changed_byte_in_the_weights_is_found(tmp_path: Path) -> None:
    folder = _converted_folder(tmp_path)
    _flip_a_byte_keeping_the_time(folder / "model.safetensors")

    problem = cached_weights_problem(folder)

    assert problem is not None
    assert problem.startswith("model.safetensors has sha256")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: (f / CHECKSUMS).unlink(), "no checksums were recorded when it was converted"),
        (lambda f: (f / "nested" / "extra.json").unlink(), "nested/extra.json is missing"),
        (
            lambda f: (f / "tokenizer.json").write_text("{}"),
            "tokenizer.json was added after it was converted",
        ),
        (lambda f: (f / CHECKSUMS).write_text("garbage\n"), f"{CHECKSUMS} is not a list"),
    ],
    ids=["no record", "file removed", "file added", "record garbled"],
)
def test_a_folder_that_differs_from_its_record_is_refused(
    tmp_path: Path, change: object, expected: str
) -> None:
    folder = _converted_folder(tmp_path)
    assert callable(change)
    change(folder)

    problem = cached_weights_problem(folder)

    assert problem is not None
    assert problem.startswith(expected)


def test_an_intact_folder_is_used_without_converting(tmp_path: Path) -> None:
    folder = _converted_folder(tmp_path)
    # A GGUF that does not exist: converting would fail, so reuse is all that can happen.
    gguf = tmp_path / "source" / "SmolLM2-135M-Instruct.Q4_1.gguf"

    assert converted_weights(gguf, tmp_path) == folder


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="transformers not installed"
)
def test_a_tampered_conversion_is_discarded_and_made_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = converted_weights(bundled_gguf(), tmp_path)
    assert cached_weights_problem(first) is None
    weights = first / "model.safetensors"
    original = weights.read_bytes()
    _flip_a_byte_keeping_the_time(weights)

    with caplog.at_level(logging.WARNING, logger="agents.models.local.transformers_runtime"):
        again = converted_weights(bundled_gguf(), tmp_path)

    assert again == first
    assert weights.read_bytes() == original  # converted again from the verified GGUF
    assert cached_weights_problem(again) is None
    assert any("model.safetensors has sha256" in r.getMessage() for r in caplog.records)
    assert not list(tmp_path.glob("*.partial-*"))
