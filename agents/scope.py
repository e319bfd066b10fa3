"""`UserScope`: whose documents a run may read; the app passes it to a turn as `deps`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.spec import AgentSpec


@dataclass(frozen=True, slots=True)
class UserScope:
    """The signed-in user a turn works for; knowledge tools read only this owner's documents."""

    owner: str
    """The knowledge owner id (the user's database id), as given to `KnowledgeBase`."""
    attached: tuple[str, ...] = ()
    """Ids of documents attached to the message being answered: always consulted first."""
    attached_tables: tuple[str, ...] = ()
    """Those of `attached` that are tables (CSV, Excel, OpenDocument): the Analyst can compute
    over them whole; other attachments are read by a grounded operator."""
    earlier: tuple[str, ...] = ()
    """Ids of documents attached to earlier messages of the same conversation: a follow-up
    is most likely about them, so they count as evidence at a lower bar."""
    earlier_tables: tuple[str, ...] = ()
    """Those of `earlier` that are tables: a follow-up asking for a count or a total over
    them goes to the Analyst, which computes over every row."""
    documents: tuple[str, ...] | None = None
    """The only document ids the knowledge tools may read (an operator's knowledge scope);
    `None` for all of the owner's documents. Enforced by the store's search filter."""

    def __post_init__(self) -> None:
        if not isinstance(self.owner, str) or not self.owner.strip():
            raise ValueError("UserScope.owner must be a non-empty user id")

    def allows(self, document_id: str) -> bool:
        """Whether the knowledge tools may read `document_id` in this scope."""
        return self.documents is None or document_id in self.documents


def operator_scope(deps: object, spec: AgentSpec) -> object:
    """The `deps` an operator's run gets: narrowed to its knowledge scope, if it has one.

    An operator an admin limited to some of their documents searches those documents only
    (the admin's, for whoever asks); one given a shared collection searches every document of
    that collection. Neither reads the asker's documents or attachments.
    """
    if not isinstance(deps, UserScope) or (
        spec.knowledge_scope is None and spec.knowledge_owner is None
    ):
        return deps
    documents = None if spec.knowledge_scope is None else tuple(spec.knowledge_scope)
    return UserScope(owner=spec.knowledge_owner or deps.owner, documents=documents)
