"""Bundled local models (SmolLM2 via llama.cpp or transformers)."""

from agents.models.local.bundled import bundled_gguf, quantized_gguf
from agents.models.local.model import (
    LOCAL_MODELS,
    LocalModel,
    LocalModelConfig,
    choose_runtime,
    load_runtime,
)

__all__ = [
    "LOCAL_MODELS",
    "LocalModel",
    "LocalModelConfig",
    "bundled_gguf",
    "choose_runtime",
    "load_runtime",
    "quantized_gguf",
]
