"""`/api/tasks` against a running Cadre, with the real httpx client and personal API keys.

The chat model is a remote provider pointed at a local fake of OpenAI, so every task's
answer is known. Tasks run in the background and post their result to their thread; the
thread is read back from the database the server writes.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.models.openai_server import FakeOpenAI, Reply, fake_openai, text
from tests.support.cli import add_user, new_api_key
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # starts a server

LEFT_PENDING = "Summarise the quarterly numbers."
LEFT_RUNNING = "Draft the board letter."


@dataclass
class Site:
    server: RunningServer
    data: Path
    remote: FakeOpenAI
    alice: str
    bob: str

    def api(self, key: str | None) -> httpx.Client:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=f"{self.server.url}/api", headers=headers, timeout=30)

    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.data / "cadre.db") as db:
            return db.execute(query, params).fetchall()


def _user_id(data: Path, name: str) -> str:
    with sqlite3.connect(data / "cadre.db") as db:
        [(user_id,)] = db.execute("SELECT id FROM users WHERE identifier = ?", (name,)).fetchall()
    return str(user_id)


def _file_tasks_a_stop_left_behind(data: Path, owner: str) -> None:
    """Two of alice's tasks as a server stopped mid-work would leave them."""
    now = time.time()
    with sqlite3.connect(data / "cadre.db") as db:
        for status, request in (("pending", LEFT_PENDING), ("running", LEFT_RUNNING)):
            thread_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO threads (id, user_id, name, metadata, created_at, updated_at) "
                "VALUES (?, ?, ?, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                (thread_id, owner, request),
            )
            db.execute(
                "INSERT INTO tasks (id, thread_id, user_id, turn_id, operator, title, "
                "instructions, priority, status, created_at, started_at, origin) "
                "VALUES (?, ?, ?, 't', 'Chief of Staff', ?, ?, 'normal', ?, ?, ?, 'requested')",
                (uuid.uuid4().hex, thread_id, owner, request, request, status, now, now),
            )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("data")
    for user in ("alice", "bob"):
        add_user(data, user)
    alice, bob = new_api_key(data, "alice"), new_api_key(data, "bob")
    _file_tasks_a_stop_left_behind(data, _user_id(data, "alice"))
    with fake_openai() as remote:
        remote.replies.append(text("The quarterly numbers are up."))  # the pending one, rerun
        with cadre_server(
            data, CADRE_OPENAI_BASE_URL=remote.url, CADRE_CHAT_MODEL="openai:test-model"
        ) as server:
            yield Site(server, data, remote, alice, bob)


def finished(api: httpx.Client, task_id: str, timeout: float = 60) -> dict[str, Any]:
    """The task once it has ended."""
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = api.get(f"/tasks/{task_id}").raise_for_status().json()
        if task["status"] in ("done", "failed", "cancelled"):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task still {task['status']} after {timeout}s: {task}")
        time.sleep(0.1)


def reaches(api: httpx.Client, task_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = api.get(f"/tasks/{task_id}").raise_for_status().json()
        if task["status"] == status:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task never {status}: {task}")
        time.sleep(0.05)


def test_after_a_restart_pending_tasks_run_and_interrupted_ones_say_so(site: Site) -> None:
    with site.api(site.alice) as api:
        mine = {t["request"]: t for t in api.get("/tasks").raise_for_status().json()}
        rerun = finished(api, mine[LEFT_PENDING]["id"])
        interrupted = finished(api, mine[LEFT_RUNNING]["id"])
    assert (rerun["status"], rerun["result"]) == ("done", "The quarterly numbers are up.")
    assert interrupted["status"] == "failed"
    assert "Interrupted by a restart" in interrupted["result"]
    posted = site.rows(
        "SELECT type, output FROM steps WHERE thread_id = ?", interrupted["thread_id"]
    )
    assert [kind for kind, _ in posted] == ["assistant_message"]
    assert "Interrupted by a restart" in posted[0][1]


def test_a_task_created_over_rest_runs_and_its_result_appears_in_a_new_thread(
    site: Site,
) -> None:
    site.remote.replies.append(text("Three risks: cost, schedule, staffing.", usage=(30, 8)))
    with site.api(site.bob) as api:
        made = api.post("/tasks", json={"request": "List the three biggest project risks."})
        assert made.status_code == 201, made.text
        task = made.json()
        assert task["title"] == "List the three biggest project risks."
        assert (task["priority"], task["operator"], task["origin"]) == (
            "normal",
            "Chief of Staff",
            "requested",
        )
        assert task["status"] in ("pending", "running", "done")
        done = finished(api, task["id"])
    assert done["status"] == "done"
    assert done["result"] == "Three risks: cost, schedule, staffing."
    assert (done["input_tokens"], done["output_tokens"]) == (30, 8)
    assert done["started_at"] is not None
    assert done["finished_at"] >= done["started_at"]
    [(name, owner)] = site.rows(
        "SELECT t.name, u.identifier FROM threads t JOIN users u ON u.id = t.user_id "
        "WHERE t.id = ?",
        done["thread_id"],
    )
    assert (name, owner) == ("List the three biggest project risks.", "bob")
    steps = site.rows(
        "SELECT type, name, output FROM steps WHERE thread_id = ? ORDER BY created_at",
        done["thread_id"],
    )
    assert [(kind, author) for kind, author, _ in steps] == [
        ("user_message", "bob"),
        ("assistant_message", "Chief of Staff"),
    ]
    assert "List the three biggest project risks." in steps[0][2]
    assert "Three risks: cost, schedule, staffing." in steps[1][2]


def test_a_task_for_an_operator_posts_to_the_callers_existing_thread(site: Site) -> None:
    site.remote.replies.append(text("Hello!"))
    with site.api(site.bob) as api:
        first = api.post("/tasks", json={"request": "Say hello.", "title": "Hello"}).json()
        assert first["title"] == "Hello"
        finished(api, first["id"])
        thread = first["thread_id"]
        site.remote.replies.append(text("Dear team, thank you."))
        made = api.post(
            "/tasks",
            json={
                "request": "Write a thank-you note to the team.",
                "operator": "Writer",
                "priority": "high",
                "thread_id": thread,
            },
        )
        assert made.status_code == 201, made.text
        done = finished(api, made.json()["id"])
    assert (done["operator"], done["priority"], done["thread_id"]) == ("Writer", "high", thread)
    assert done["result"] == "Dear team, thank you."
    outputs = [row[0] for row in site.rows("SELECT output FROM steps WHERE thread_id = ?", thread)]
    assert sum("Dear team, thank you." in output for output in outputs) == 1


def test_listing_filters_by_status_priority_operator_and_date(site: Site) -> None:
    with site.api(site.alice) as api:
        for priority, reply in (("low", "Low done."), ("urgent", "Urgent done.")):
            site.remote.replies.append(text(reply))
            made = api.post(
                "/tasks", json={"request": f"A {priority} job.", "priority": priority}
            ).json()
            finished(api, made["id"])
        urgent = api.get("/tasks", params={"priority": "urgent"}).json()
        assert [t["request"] for t in urgent] == ["A urgent job."]
        done = api.get("/tasks", params={"status": "done"}).json()
        assert {t["request"] for t in done} >= {"A low job.", "A urgent job.", LEFT_PENDING}
        assert all(t["status"] == "done" for t in done)
        failed = api.get("/tasks", params={"status": "failed"}).json()
        assert [t["request"] for t in failed] == [LEFT_RUNNING]
        assert api.get("/tasks", params={"operator": "Writer"}).json() == []
        chief = api.get("/tasks", params={"operator": "Chief of Staff"}).json()
        assert len(chief) == 4
        today = time.strftime("%Y-%m-%d", time.gmtime())
        assert len(api.get("/tasks", params={"created_after": today}).json()) == 4
        assert api.get("/tasks", params={"created_before": today}).json() == []
        newest = api.get("/tasks", params={"limit": 1}).json()
        assert [t["request"] for t in newest] == ["A urgent job."]


def test_a_running_task_is_cancelled_and_retried(site: Site) -> None:
    slow = text("Too late.")
    site.remote.replies.append(Reply(slow.chunks, hang_s=20))
    with site.api(site.alice) as api:
        made = api.post(
            "/tasks", json={"request": "Write a long report.", "operator": "Writer"}
        ).json()
        reaches(api, made["id"], "running")
        cancelled = api.post(f"/tasks/{made['id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        again = api.post(f"/tasks/{made['id']}/cancel")
        assert again.status_code == 409
        assert "already cancelled" in again.json()["detail"]

        site.remote.replies[:] = [text("The long report.")]
        retried = api.post(f"/tasks/{made['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] in ("pending", "running", "done")
        done = finished(api, made["id"])
        assert (done["status"], done["result"]) == ("done", "The long report.")
        assert api.post(f"/tasks/{made['id']}/retry").status_code == 409


def test_a_pending_task_is_cancelled(site: Site) -> None:
    slow = text("Never shown.")
    site.remote.replies.append(Reply(slow.chunks, hang_s=20))
    with site.api(site.alice) as api:
        made = api.post("/tasks", json={"request": "Think about it."}).json()
        cancelled = api.post(f"/tasks/{made['id']}/cancel").json()
        assert cancelled["status"] == "cancelled"
        site.remote.replies.clear()  # unused when it was cancelled before asking the model
        time.sleep(0.5)
        assert api.get(f"/tasks/{made['id']}").json()["status"] == "cancelled"
    outputs = site.rows("SELECT output FROM steps WHERE thread_id = ?", made["thread_id"])
    assert not any("Never shown." in output for (output,) in outputs)


def test_bad_input_is_422_with_reasons(site: Site) -> None:
    with site.api(site.alice) as api:
        blank = api.post("/tasks", json={"request": "   "})
        assert blank.status_code == 422
        assert "blank" in blank.text
        missing = api.post("/tasks", json={"title": "No request"})
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["loc"] == ["body", "request"]
        priority = api.post("/tasks", json={"request": "x", "priority": "asap"})
        assert priority.status_code == 422
        assert "urgent" in priority.text
        operator = api.post("/tasks", json={"request": "x", "operator": "Astronaut"})
        assert operator.status_code == 422
        assert "'Astronaut' is not one of your operators" in operator.json()["detail"]
        assert "Writer" in operator.json()["detail"]
        status = api.get("/tasks", params={"status": "sleeping"})
        assert status.status_code == 422
        date = api.get("/tasks", params={"created_after": "yesterday-ish"})
        assert date.status_code == 422
        order = api.get(
            "/tasks", params={"created_after": "2026-12-02", "created_before": "2026-12-01"}
        )
        assert order.status_code == 422
        assert "earlier" in order.json()["detail"]


def test_another_users_task_and_thread_are_not_found(site: Site) -> None:
    site.remote.replies.append(text("Bob's answer."))
    with site.api(site.bob) as bob:
        mine = bob.post("/tasks", json={"request": "Bob's private question."}).json()
        finished(bob, mine["id"])
    with site.api(site.alice) as alice:
        assert alice.get(f"/tasks/{mine['id']}").status_code == 404
        assert alice.post(f"/tasks/{mine['id']}/cancel").status_code == 404
        assert alice.post(f"/tasks/{mine['id']}/retry").status_code == 404
        assert mine["id"] not in {t["id"] for t in alice.get("/tasks").json()}
        stolen = alice.post("/tasks", json={"request": "x", "thread_id": mine["thread_id"]})
        assert stolen.status_code == 404
        assert alice.get("/tasks/no-such-task").status_code == 404


def test_the_browser_session_works_too_and_an_admin_sees_everyones_tasks(site: Site) -> None:
    with site.api(site.bob) as bob:
        bobs = {t["id"] for t in bob.get("/tasks").json()}
    assert bobs
    cookie = site.server.login()  # the test server's admin, signed in with a password
    with httpx.Client(
        base_url=f"{site.server.url}/api", headers={"Cookie": cookie}, timeout=30
    ) as browser:
        listed = browser.get("/tasks")
        assert listed.status_code == 200, listed.text
        assert bobs <= {t["id"] for t in listed.json()}
        one = browser.get(f"/tasks/{next(iter(bobs))}")
        assert one.status_code == 200


def test_without_a_key_it_is_401(site: Site) -> None:
    with site.api(None) as anonymous:
        assert anonymous.get("/tasks").status_code == 401
        assert anonymous.post("/tasks", json={"request": "x"}).status_code == 401
    with site.api("cadre-not-a-real-key") as forged:
        assert forged.get("/tasks").status_code == 401


def test_the_openapi_page_documents_the_task_routes(site: Site) -> None:
    spec = httpx.get(f"{site.server.url}/api/openapi.json", timeout=30).json()
    create = spec["paths"]["/api/tasks"]["post"]
    assert create["summary"] == "Create a task that runs in the background"
    assert create["tags"] == ["tasks"]
    assert set(spec["paths"]) >= {
        "/api/tasks/{task_id}",
        "/api/tasks/{task_id}/cancel",
        "/api/tasks/{task_id}/retry",
    }
