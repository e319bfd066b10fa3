"""`/api/operators` and `/api/stats` against a running Cadre, with personal API keys.

The chat model is a remote provider pointed at a local fake of OpenAI, so the turn that
follows a change shows which operators the Chief of Staff was offered, and every token
count in the stats is known. Audit rows are read from the database the server writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.models.openai_server import FakeOpenAI, fake_openai, text, tool_call
from tests.support.cli import add_user, cadre, new_api_key
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # starts a server

CLERK = {
    "name": "Invoice Clerk",
    "description": "Files invoices and receipts in the accounting system, by supplier.",
    "instructions": "You are the Invoice Clerk. Say what you filed and where.",
    "tools": [],
    "examples": ["File this invoice from ACME", "Record the receipt from the supplier"],
    "limits": {"max_turns": 4, "timeout_s": 60, "max_concurrency": 1},
}


@dataclass
class Site:
    server: RunningServer
    data: Path
    remote: FakeOpenAI
    admin: str
    member: str

    def api(self, key: str | None) -> httpx.Client:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=f"{self.server.url}/api", headers=headers, timeout=60)

    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.data / "cadre.db") as db:
            return db.execute(query, params).fetchall()

    def offered(self, key: str, replies: list[Any], question: str) -> list[str]:
        """Ask a turn over /v1; the operators the Chief of Staff was offered."""
        self.remote.requests.clear()
        self.remote.replies += replies
        with httpx.Client(
            base_url=f"{self.server.url}/v1",
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        ) as v1:
            v1.post(
                "/chat/completions",
                json={"model": "cadre", "messages": [{"role": "user", "content": question}]},
            ).raise_for_status()
        tools = self.remote.requests[0].get("tools") or []
        return [t["function"]["name"] for t in tools if t["function"]["name"].startswith("deleg")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("data")
    add_user(data, "max")
    member = new_api_key(data, "max")
    with (
        fake_openai() as remote,
        cadre_server(
            data, CADRE_OPENAI_BASE_URL=remote.url, CADRE_CHAT_MODEL="openai:test-model"
        ) as server,
    ):
        admin = new_api_key(data, "admin")  # the server made its admin at the first start
        yield Site(server, data, remote, admin, member)


def test_nobody_gets_401_and_a_member_gets_403_on_every_route(site: Site) -> None:
    calls = [
        ("GET", "/operators", None),
        ("GET", "/operators/Writer", None),
        ("POST", "/operators", CLERK),
        ("PUT", "/operators/Writer", CLERK),
        ("PATCH", "/operators/Writer", {"model": None}),
        ("POST", "/operators/Writer/disable", None),
        ("POST", "/operators/Writer/enable", None),
        ("DELETE", "/operators/Writer", None),
    ]
    for key, expected in ((None, 401), (site.member, 403)):
        with site.api(key) as api:
            for method, path, body in calls:
                response = api.request(method, path, json=body)
                assert response.status_code == expected, (method, path, response.text)
    assert site.rows("SELECT count(*) FROM operator_changes") == [(0,)]
    assert site.rows("SELECT count(*) FROM agents") == [(0,)]


def test_the_list_shows_built_ins_with_their_state(site: Site) -> None:
    with site.api(site.admin) as api:
        listed = api.get("/operators").raise_for_status().json()
        writer = api.get("/operators/Writer").raise_for_status().json()
        missing = api.get("/operators/Nobody")
    builtins = [(o["name"], o["builtin"], o["enabled"]) for o in listed if o["builtin"]]
    assert builtins == [
        ("Researcher", True, True),
        ("Analyst", True, True),
        ("Writer", True, True),
    ]
    assert writer["model"] is None
    assert writer["description"]
    assert set(writer["limits"]) == {"max_turns", "timeout_s", "max_concurrency"}
    assert missing.status_code == 404


def test_invalid_operators_are_refused_with_the_wizard_s_reasons(site: Site) -> None:
    bad = {
        **CLERK,
        "name": "writer",  # a built-in's name
        "description": "Files.",
        "tools": ["launch_rockets"],
        "model": "openai:no-such-model",
        "examples": ["Only one"],
        "limits": {"max_turns": 99},
    }
    with site.api(site.admin) as api:
        refused = api.post("/operators", json=bad)
        missing = api.post("/operators", json={"name": "Half Made"})
        unknown = api.post("/operators", json={**CLERK, "colour": "blue"})
    assert refused.status_code == 422
    reasons = {e["loc"][-1]: e["msg"] for e in refused.json()["detail"]}
    assert reasons == {
        "name": "'writer' is already taken: pick another name.",
        "description": "The description is too short: write at least 20 characters.",
        "tools": "No tool called 'launch_rockets'.",
        "model": "'openai:no-such-model' is not a model that can answer now; pick one of the list.",
        "examples": "Give 2 to 10 different sample requests, one per line.",
        "limits": "max_turns is a whole number from 1 to 20.",
    }
    assert missing.status_code == 422
    assert {e["loc"][-1]: e["msg"] for e in missing.json()["detail"]} == {
        "description": "required",
        "instructions": "required",
        "examples": "required",
    }
    assert unknown.status_code == 422
    assert [e["loc"][-1] for e in unknown.json()["detail"]] == ["colour"]
    assert site.rows("SELECT count(*) FROM agents") == [(0,)]


def test_an_admin_creates_edits_disables_and_deletes_an_operator(site: Site) -> None:
    with site.api(site.admin) as api:
        created = api.post("/operators", json=CLERK)
        assert created.status_code == 201, created.text
        made = created.json()
        assert (made["name"], made["builtin"], made["enabled"]) == ("Invoice Clerk", False, True)
        assert made["limits"] == {"max_turns": 4, "timeout_s": 60.0, "max_concurrency": 1}
        assert api.post("/operators", json=CLERK).status_code == 422  # the name is taken now

        # The very next turn offers it to the Chief of Staff, which hands it work.
        offered = site.offered(
            site.admin,
            [
                tool_call("delegate_to_invoice_clerk", '{"instructions": "File ACME 7"}', "c1"),
                text("Filed ACME invoice 7 under March."),  # the Invoice Clerk
                text("Invoice 7 is filed."),  # the Chief of Staff
            ],
            "File ACME invoice 7.",
        )
        assert "delegate_to_invoice_clerk" in offered
        clerk_prompt = site.remote.requests[1]["messages"][0]["content"]
        assert "You are the Invoice Clerk." in clerk_prompt

        patched = api.patch(
            "/operators/Invoice Clerk",
            json={"description": "Files invoices, receipts and credit notes by supplier."},
        ).raise_for_status()
        assert patched.json()["instructions"] == CLERK["instructions"]  # untouched
        renamed = api.put("/operators/Invoice Clerk", json={**CLERK, "name": "Ledger Clerk"})
        assert renamed.status_code == 200, renamed.text
        assert api.get("/operators/Invoice Clerk").status_code == 404
        bad_patch = api.patch("/operators/Ledger Clerk", json={"examples": []})
        assert bad_patch.status_code == 422

        disabled = api.post("/operators/Ledger Clerk/disable").raise_for_status().json()
        assert disabled["enabled"] is False
        offered = site.offered(site.admin, [text("Done.")], "File ACME invoice 8.")
        assert "delegate_to_ledger_clerk" not in offered
        assert "delegate_to_writer" in offered
        api.post("/operators/Ledger Clerk/enable").raise_for_status()

        assert api.delete("/operators/Ledger Clerk").status_code == 204
        assert api.delete("/operators/Ledger Clerk").status_code == 404
        assert all(o["name"] != "Ledger Clerk" for o in api.get("/operators").json())

    audit = site.rows(
        "SELECT operator, action, actor, changes FROM operator_changes "
        "WHERE operator IN ('Invoice Clerk', 'Ledger Clerk') ORDER BY id"
    )
    assert [(op, action, actor) for op, action, actor, _ in audit] == [
        ("Invoice Clerk", "created", "admin"),
        ("Invoice Clerk", "updated", "admin"),
        ("Ledger Clerk", "updated", "admin"),
        ("Ledger Clerk", "disabled", "admin"),
        ("Ledger Clerk", "enabled", "admin"),
        ("Ledger Clerk", "deleted", "admin"),
    ]
    described = json.loads(audit[1][3])
    assert described == {
        "description": [
            CLERK["description"],
            "Files invoices, receipts and credit notes by supplier.",
        ]
    }
    assert json.loads(audit[2][3])["name"] == ["Invoice Clerk", "Ledger Clerk"]


def test_built_ins_can_be_disabled_and_pinned_but_not_edited_or_deleted(site: Site) -> None:
    with site.api(site.admin) as api:
        deleted = api.delete("/operators/Analyst")
        edited = api.put("/operators/Analyst", json=CLERK)
        patched = api.patch("/operators/Analyst", json={"description": "x" * 30})
        bad_pin = api.patch("/operators/Analyst", json={"model": "openai:nope"})
        pinned = api.patch("/operators/Analyst", json={"model": "openai:test-model"})
        off = api.post("/operators/Analyst/disable")
        offered = site.offered(site.admin, [text("Sure.")], "Add 2 and 2.")
        on = api.post("/operators/Analyst/enable")
        unpinned = api.patch("/operators/Analyst", json={"model": None})
    assert deleted.status_code == 409
    assert "can be disabled" in deleted.json()["detail"]
    assert "not deleted" in deleted.json()["detail"]
    assert (edited.status_code, patched.status_code) == (409, 409)
    assert bad_pin.status_code == 422
    assert pinned.json()["model"] == "openai:test-model"
    assert off.json()["enabled"] is False
    assert "delegate_to_analyst" not in offered
    assert on.json()["enabled"] is True
    assert unpinned.json()["model"] is None
    actions = site.rows(
        "SELECT action, actor FROM operator_changes WHERE operator = 'Analyst' ORDER BY id"
    )
    assert actions == [
        ("updated", "admin"),
        ("disabled", "admin"),
        ("enabled", "admin"),
        ("updated", "admin"),
    ]


def test_an_operator_is_given_a_shared_collection_by_name(site: Site) -> None:
    made = cadre(site.data, "collections", "create", "Supplier contracts")
    assert made.returncode == 0, made.stderr
    desk = {**CLERK, "name": "Contracts Desk", "tools": ["search_documents"]}
    with site.api(site.admin) as api:
        created = api.post("/operators", json={**desk, "collection": "supplier CONTRACTS"})
        unknown = api.post("/operators", json={**desk, "collection": "Price lists"})
        both = api.patch(
            "/operators/Contracts Desk",
            json={"knowledge": [], "collection": "Supplier contracts"},
        )
        own = api.patch("/operators/Contracts Desk", json={"knowledge": []})
        api.delete("/operators/Contracts Desk")
    assert created.status_code == 201, created.text
    assert created.json()["knowledge"] is None
    collection = created.json()["collection"]
    assert collection
    assert unknown.status_code == 422
    assert "not a shared collection" in unknown.text
    assert both.status_code == 422
    assert "not both" in both.text  # a collection or documents, never both
    # Choosing documents (here: none at all) lets go of the collection.
    assert (own.json()["knowledge"], own.json()["collection"]) == ([], None)
    assert cadre(site.data, "collections", "delete", "Supplier contracts", "--yes").returncode == 0


def test_stats_count_a_members_own_turn_and_an_admin_sees_everyone(site: Site) -> None:
    since = "2020-01-01"
    with site.api(site.member) as api:
        before = api.get("/stats", params={"since": since}).raise_for_status().json()
    assert before["operators"] == []
    assert before["total"]["tasks"] == 0
    assert before["user"] == "max"

    site.offered(
        site.member,
        [
            tool_call("delegate_to_writer", '{"instructions": "Thank the team"}', "w1"),
            text("Dear team, thank you.", usage=(20, 6)),  # the Writer
            text("Here is the note.", usage=(50, 4)),  # the Chief of Staff
        ],
        "Write a thank-you note to the team.",
    )
    with site.api(site.member) as api:
        mine = api.get("/stats", params={"since": since}).raise_for_status().json()
        assert api.get("/stats", params={"user": "admin"}).status_code == 403
        reversed_ = api.get("/stats", params={"since": "2030-01-02", "until": "2030-01-01"})
    assert reversed_.status_code == 422
    rows = {row["operator"]: row for row in mine["operators"]}
    assert list(rows) == ["Chief of Staff", "Writer"]
    chief, writer = rows["Chief of Staff"], rows["Writer"]
    # The tool call's usage chunk is (30, 9); the texts' as scripted.
    assert (chief["calls"], chief["input_tokens"], chief["output_tokens"]) == (2, 80, 13)
    assert (writer["calls"], writer["input_tokens"], writer["output_tokens"]) == (1, 20, 6)
    assert (writer["tasks"], writer["done"], writer["success_rate"]) == (1, 1, 1.0)
    assert writer["median_s"] is not None
    assert writer["median_s"] == writer["p95_s"]
    assert (chief["tasks"], chief["success_rate"]) == (0, None)
    assert mine["total"]["input_tokens"] == 100

    with site.api(site.admin) as api:
        everyone = api.get("/stats").raise_for_status().json()
        just_max = api.get("/stats", params={"user": "max"}).raise_for_status().json()
        nobody = api.get("/stats", params={"user": "ghost"})
    assert everyone["user"] is None
    assert everyone["total"]["calls"] > mine["total"]["calls"]  # the admin's turns too
    assert "Invoice Clerk" in {row["operator"] for row in everyone["operators"]}
    assert just_max["operators"] == mine["operators"]
    assert nobody.status_code == 404


def test_the_openapi_page_documents_the_operator_and_stats_routes(site: Site) -> None:
    spec = httpx.get(f"{site.server.url}/api/openapi.json", timeout=30).json()
    create = spec["paths"]["/api/operators"]["post"]
    assert create["summary"] == "Create an operator"
    assert create["tags"] == ["operators"]
    assert set(spec["paths"]["/api/operators/{name}"]) == {"get", "put", "patch", "delete"}
    stats = spec["paths"]["/api/stats"]["get"]
    assert stats["tags"] == ["stats"]
    assert {p["name"] for p in stats["parameters"]} == {"since", "until", "user"}
    assert "StatsOut" in spec["components"]["schemas"]
