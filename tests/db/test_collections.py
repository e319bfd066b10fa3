"""Shared collections are knowledge owners that no one can sign in as, on both databases."""

from __future__ import annotations

import hashlib

import pytest

from agents.spec import AgentSpec
from app.auth.users import UserDirectory
from app.db.chainlit_data.layer import CadreDataLayer
from app.db.collections import CollectionError, CollectionStore
from app.db.operators import Actor, OperatorStore
from app.db.stores import SqlDocumentCatalog
from knowledge.catalog import DocumentRecord, DocumentStatus


async def test_a_collection_owns_documents_but_is_no_user(data_layer: CadreDataLayer) -> None:
    users = UserDirectory(data_layer)
    ada = await users.add("ada", "ada-password-1", role="admin")
    store = CollectionStore(data_layer)

    handbook = await store.create("  Employee   handbook ", "Policies and benefits.", by="ada")
    assert (handbook.name, handbook.description, handbook.created_by) == (
        "Employee handbook",
        "Policies and benefits.",
        "ada",
    )
    with pytest.raises(CollectionError, match="already a collection"):
        await store.create("EMPLOYEE HANDBOOK", by="ada")
    with pytest.raises(CollectionError, match="1 to 60 letters"):
        await store.create("<script>", by="ada")
    assert [c.name for c in await store.list()] == ["Employee handbook"]
    assert await store.find("employee handbook") == handbook
    assert await store.find(handbook.id) == handbook
    assert await store.find(ada.id) is None  # a person is not a collection

    # Its documents are recorded under it, as a person's are under their id.
    catalog = SqlDocumentCatalog(data_layer)
    digest = hashlib.sha256(b"leave policy").hexdigest()
    await catalog.put(DocumentRecord(handbook.id, digest, "leave.pdf", DocumentStatus.READY))
    assert [r.name for r in await catalog.list_documents(handbook.id)] == ["leave.pdf"]

    # No door signs in as it, and it is not listed among the users.
    assert [a.identifier for a in await users.list()] == ["ada"]
    assert await users.check_password("collection:employee handbook", "") is None
    assert (await users.get("collection:employee handbook")).disabled  # type: ignore[union-attr]

    # The operators that search it are known, so it is not deleted from under them.
    operators = OperatorStore(data_layer)
    desk = AgentSpec(
        name="Policy Desk",
        description="Answers questions from the employee handbook.",
        instructions="Answer from the handbook.",
        knowledge_owner=handbook.id,
    )
    await operators.save(desk, actor=Actor(ada.id, "ada"))
    assert await operators.searching(handbook.id) == ["Policy Desk"]
    assert (await operators.get("Policy Desk")) == desk

    assert await store.delete(handbook.id)
    assert not await store.delete(handbook.id)
    assert not await store.delete(ada.id)  # never a person
    assert await store.list() == []
    assert await catalog.list_documents(handbook.id) == []  # its records went with it
