"""Cadre's knowledge layer: parse, chunk, embed, store and search users' documents.

Names are loaded on first use, so `import knowledge.documents` (done in every parse worker)
does not pay for LanceDB or the embedding model.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # nouns
    "Attachment": "knowledge.documents",
    "Chunk": "knowledge.documents",
    "ParsedDocument": "knowledge.documents",
    "Passage": "knowledge.documents",
    "Section": "knowledge.documents",
    # parsing and chunking
    "ChunkingOptions": "knowledge.chunking",
    "chunk_document": "knowledge.chunking",
    "ParseLimits": "knowledge.parsing",
    "parse_in_sandbox": "knowledge.sandbox",
    "parse_in_sandbox_async": "knowledge.sandbox",
    "Table": "knowledge.tables",
    "read_tables": "knowledge.tables",
    # embedding
    "Embedder": "knowledge.embedder",
    "HashEmbedder": "knowledge.embedder",
    "OnnxEmbedder": "knowledge.embedder",
    "SentenceTransformerEmbedder": "knowledge.embedder",
    # storage and search
    "EmbedderMismatchError": "knowledge.store",
    "InvalidOwnerError": "knowledge.store",
    "KnowledgeStore": "knowledge.store",
    "StoreOptions": "knowledge.store",
    "FusionWeights": "knowledge.search",
    "SearchMode": "knowledge.search",
    "Searcher": "knowledge.search",
    # ingestion and status records
    "DocumentCatalog": "knowledge.catalog",
    "DocumentRecord": "knowledge.catalog",
    "DocumentStatus": "knowledge.catalog",
    "InMemoryCatalog": "knowledge.catalog",
    "IngestDone": "knowledge.ingest",
    "IngestEvent": "knowledge.ingest",
    "IngestFailed": "knowledge.ingest",
    "IngestOptions": "knowledge.ingest",
    "IngestPipeline": "knowledge.ingest",
    "IngestProgress": "knowledge.ingest",
    "Upload": "knowledge.ingest",
    "LeaseLostError": "knowledge.leases",
    "LeaseOptions": "knowledge.leases",
    # the facade
    "KnowledgeBase": "knowledge.base",
    "Recovery": "knowledge.base",
    # errors
    "KnowledgeError": "knowledge.errors",
    "ModelFileChanged": "knowledge.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'knowledge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
