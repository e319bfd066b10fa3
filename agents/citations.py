"""`CitationBook`: the `[n]` numbers of one user turn, and which passages each run was shown.

A passage keeps its number for the whole turn, whichever run's tool found it, so the
Chief of Staff's combined answer and the Sources line agree with every operator's answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from knowledge.documents import Passage


@dataclass(eq=False)
class CitationBook:
    """Lives on the turn's state; discarded with it."""

    _numbers: dict[tuple[str, int], int] = field(default_factory=dict)
    """(document id, chunk index) -> its number in this turn."""
    _shown: dict[str, dict[int, Passage]] = field(default_factory=dict)
    """Run id -> the passages its tools showed, by number."""

    def number(self, run_id: str, passages: Sequence[Passage]) -> list[int]:
        """Each passage's number: new ones get the next numbers, seen ones keep theirs."""
        shown = self._shown.setdefault(run_id, {})
        result = []
        for passage in passages:
            key = (passage.document_id, passage.chunk_index)
            if key not in self._numbers:
                self._numbers[key] = len(self._numbers) + 1
            result.append(self._numbers[key])
            shown.setdefault(self._numbers[key], passage)
        return result

    def shown_to(self, run_id: str) -> list[tuple[int, Passage]]:
        """The passages the run's tools showed, with their numbers, in number order."""
        return sorted(self._shown.get(run_id, {}).items())
