"""`UserScope`: whose documents a run may read; the app passes it to a turn as `deps`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserScope:
    """The signed-in user a turn works for; knowledge tools read only this owner's documents."""

    owner: str
    """The knowledge owner id (the user's database id), as given to `KnowledgeBase`."""
    attached: tuple[str, ...] = ()
    """Ids of documents attached to the message being answered: always consulted first."""

    def __post_init__(self) -> None:
        if not isinstance(self.owner, str) or not self.owner.strip():
            raise ValueError("UserScope.owner must be a non-empty user id")
