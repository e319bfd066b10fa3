"""Moving a knowledge store to another embedder: which one built it, and re-embedding it.

A store holds the vectors of one embedder (its id is in the table's metadata) and refuses to
open for another (`EmbedderMismatchError`). Switching embedders therefore means re-embedding
every stored chunk; the chunks' text is in the store, so neither the original files nor the
old model are needed. `KnowledgeStore.reindex` does the work (crash-safe: a side table
swapped in at the end); this module opens the store as whatever built it so that the old
model need not be loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lancedb

from knowledge.embedder import Embedder
from knowledge.store import _META_EMBEDDER, TABLE, KnowledgeStore, StoreOptions


@dataclass(frozen=True, slots=True)
class StoredEmbedder:
    """The embedder a store's vectors were made with."""

    id: str
    dimension: int


def stored_embedder(uri: str | Path, options: StoreOptions | None = None) -> StoredEmbedder | None:
    """The embedder of the store at `uri`, or `None` when there is no store there yet."""
    options = options or StoreOptions()
    db = lancedb.connect(str(uri), storage_options=dict(options.storage_options) or None)
    names: list[str] = []
    token: str | None = None
    while True:
        page = db.list_tables(page_token=token, limit=1000)
        names.extend(page.tables)
        token = page.page_token
        if not token:
            break
    if TABLE not in names:
        return None
    schema = db.open_table(TABLE).schema
    embedder_id = (schema.metadata or {}).get(_META_EMBEDDER, b"").decode()
    return StoredEmbedder(embedder_id, int(schema.field("vector").type.list_size))


def reembed(uri: str | Path, embedder: Embedder, options: StoreOptions | None = None) -> int:
    """Re-embed every chunk of the store at `uri` with `embedder`; the chunks re-embedded.

    0 when the store is already `embedder`'s or does not exist. Run it with no server or
    ingestion using the store: the table is replaced at the end.
    """
    found = stored_embedder(uri, options)
    if found is None or found.id == embedder.id:
        return 0
    old = KnowledgeStore(uri, embedder_id=found.id, dimension=found.dimension, options=options)
    return old.reindex(embedder).count()
