"""The interface every local inference engine implements (runs on a worker thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agents.models.base import FinishReason


@dataclass(frozen=True, slots=True)
class Sampling:
    """Resolved generation settings for one request."""

    max_tokens: int
    temperature: float
    top_p: float
    repeat_penalty: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    """Constrain the output to JSON matching this schema (engines that support it)."""


@dataclass(frozen=True, slots=True)
class Generated:
    """What one generation produced, apart from the text already emitted."""

    input_tokens: int
    output_tokens: int
    finish_reason: FinishReason


class Runtime(Protocol):
    """A loaded local model. Blocking: called from one worker thread at a time."""

    name: str
    """Short engine name shown by `cadre doctor` and in logs."""
    device: str
    constrained: bool
    """Honours `Sampling.json_schema`."""

    def count(self, text: str) -> int:
        """Tokens in `text` by this model's tokenizer."""
        ...

    def tail(self, text: str, max_tokens: int) -> str:
        """The last `max_tokens` tokens of `text`."""
        ...

    def generate(
        self,
        messages: list[dict[str, str]],
        sampling: Sampling,
        emit: Callable[[str], None],
        cancel: threading.Event,
    ) -> Generated:
        """Apply the model's chat template, generate, and `emit` text pieces in order.

        Returns early with finish reason `cancelled` soon after `cancel` is set.
        """
        ...
