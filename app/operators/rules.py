"""The `DraftRules` of this deployment for one admin, whichever door the draft came in by.

The chat's wizard and the REST API both ask here, so a name, model, tool or document is
accepted by one exactly when the other accepts it.
"""

from __future__ import annotations

from agents import OPERATORS
from agents.roster import CHIEF_OF_STAFF
from app.db.collections import CollectionStore
from app.db.operators import OperatorStore
from app.operators.draft import DraftRules, ModelOption
from app.services import Services


async def draft_rules(services: Services, owner: str, editing: str | None = None) -> DraftRules:
    """What a draft by the admin `owner` (a users.id) may name: free names, the models that
    answer now, the registry's tools, the admin's ready documents and the shared collections.
    `editing` is the saved operator's name when a draft edits it (it may keep its name)."""
    saved = await OperatorStore(services.data_layer).states()
    taken = {CHIEF_OF_STAFF.name, *(op.name for op in OPERATORS), *saved} - {editing}
    models = tuple(
        ModelOption(c.id, c.plans_with_tools, c.on_this_machine)
        for c in await services.catalog.choices()
    )
    tools = {
        name: tool.description.strip().splitlines()[0]
        for name, tool in sorted(services.runner.tools.items())
        if tool.delegate_to is None
    }
    kb = await services.knowledge()
    documents = {
        record.document_id: record.name
        for record in await kb.list_documents(owner)
        if record.status == "ready"
    }
    collections = {c.id: c.name for c in await CollectionStore(services.data_layer).list()}
    return DraftRules(
        taken=frozenset(name.casefold() for name in taken if name),
        models=models,
        tools=tools,
        documents=documents,
        collections=collections,
        owner=owner,
    )
