"""Bundled local models (Qwen2.5-Coder, SmolLM2) via llama.cpp or transformers."""

from agents.models.local.bundled import (
    BUNDLED_MODELS,
    BundledModel,
    bundled_gguf,
    choose_default,
    model_file,
    quantized_gguf,
)
from agents.models.local.model import (
    LOCAL_MODELS,
    LocalModel,
    LocalModelConfig,
    choose_runtime,
    load_runtime,
)

__all__ = [
    "BUNDLED_MODELS",
    "LOCAL_MODELS",
    "BundledModel",
    "LocalModel",
    "LocalModelConfig",
    "bundled_gguf",
    "choose_default",
    "choose_runtime",
    "load_runtime",
    "model_file",
    "quantized_gguf",
]
