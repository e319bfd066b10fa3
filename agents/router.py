"""A semantic router: picks the operator for a request when the model cannot call tools.

Each operator is represented by the mean (prototype) of the embeddings of its description
and example requests; the Chief of Staff by requests it answers itself (the `none`
class). A request goes to the class whose prototype it is closest to; when that match is
weak, or barely ahead of the runner-up, the Chief of Staff answers itself rather than
guess. Prototypes generalised better than nearest examples on the dev split (see
`bench/routing.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agents.errors import ConfigError
from agents.spec import AgentSpec
from knowledge.embedder import Embedder, Vectors

NONE = "none"
"""The class for requests the Chief of Staff answers itself."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes, and how sure the router is."""

    operator: str | None
    """The operator's name, or `None` when the Chief of Staff answers itself."""
    score: float
    """Similarity of the best class (0..1, higher is closer)."""
    runner_up: str
    """The second-best class (an operator name or `none`)."""
    margin: float
    """How far the best class is ahead of the runner-up."""
    scores: dict[str, float]
    """Every class's score, operators by name plus `none`."""
    reason: str
    """One sentence for the step shown to the user."""


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """Decision thresholds; tune them with `bench/routing.py` on the dev split."""

    threshold: float = 0.2
    """Below this best score the Chief of Staff answers itself."""
    margin: float = 0.02
    """An operator must lead the runner-up by at least this much."""


class SemanticRouter:
    """Routes requests to operators by embedding similarity (blocking: call it in a thread)."""

    def __init__(
        self,
        embedder: Embedder,
        operators: Sequence[AgentSpec],
        self_examples: Sequence[str],
        config: RouterConfig | None = None,
    ) -> None:
        self.config = config or RouterConfig()
        self._embedder = embedder
        labels: list[str] = []
        texts: list[str] = []
        for op in operators:
            if op.name == NONE:
                raise ConfigError(f"An operator cannot be called {NONE!r}; rename it.")
            for text in (op.description, *op.examples):
                texts.append(text)
                labels.append(op.name)
        for text in self_examples:
            texts.append(text)
            labels.append(NONE)
        if not operators or not self_examples:
            raise ConfigError("The router needs at least one operator and one self example.")
        self._classes = list(dict.fromkeys(labels))
        vectors = embedder.embed(texts)
        label_array = np.array(labels)
        prototypes = np.stack([vectors[label_array == c].mean(axis=0) for c in self._classes])
        norms = np.linalg.norm(prototypes, axis=1, keepdims=True)
        self._prototypes: Vectors = (prototypes / np.where(norms == 0, 1, norms)).astype(np.float32)

    @property
    def classes(self) -> list[str]:
        """Operator names plus `none`."""
        return list(self._classes)

    def scores(self, request: str) -> dict[str, float]:
        """Each class's similarity to `request`."""
        similarities = self._prototypes @ self._embedder.embed_query(request)
        return {label: float(s) for label, s in zip(self._classes, similarities, strict=True)}

    def route(self, request: str) -> Route:
        """Decide who handles `request`."""
        scores = self.scores(request)
        ranked = sorted(scores, key=lambda label: scores[label], reverse=True)
        best, runner_up = ranked[0], ranked[1]
        score, margin = scores[best], scores[best] - scores[runner_up]
        if best == NONE:
            return Route(None, score, runner_up, margin, scores, "A question I can answer myself.")
        if score < self.config.threshold:
            reason = f"No operator fits well (best: {best}, {score:.2f}); answering myself."
            return Route(None, score, runner_up, margin, scores, reason)
        if margin < self.config.margin:
            reason = f"Unsure between {best} and {runner_up}; answering myself."
            return Route(None, score, runner_up, margin, scores, reason)
        reason = f"This is work for the {best} (match {score:.2f}, ahead by {margin:.2f})."
        return Route(best, score, runner_up, margin, scores, reason)
