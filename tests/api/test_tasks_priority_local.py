"""Priority under a busy model, end to end: tasks created over REST while the bundled local
model is generating wait in its queue, show their place in line, and run urgent first."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.cli import add_user, new_api_key
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # the local model generates five answers

LONG_TEXT = " ".join(
    f"In week {week} the harbour team repaired {week + 2} boats, logged {week * 3} hours of "
    f"overtime and ordered {week * 5} metres of rope for the northern pier."
    for week in range(1, 41)
)


@dataclass
class Site:
    server: RunningServer
    api: httpx.Client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("data")
    add_user(data, "alice")
    key = new_api_key(data, "alice")
    # Short answers keep the test quick; one generation still takes seconds on two cores.
    with (
        cadre_server(data, CADRE_TEMPERATURE="0", CADRE_MAX_NEW_TOKENS="24") as server,
        httpx.Client(
            base_url=f"{server.url}/api", headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client,
    ):
        yield Site(server, client)


def _task(api: httpx.Client, request: str, priority: str) -> dict[str, Any]:
    made = api.post("/tasks", json={"request": request, "operator": "Writer", "priority": priority})
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_tasks_waiting_for_a_busy_model_finish_in_priority_order(site: Site) -> None:
    api, server = site.api, site.server
    # A long text to read keeps the model busy for seconds (prompt processing), while the
    # other tasks are created.
    busy = _task(api, f"Summarise in one sentence:\n\n{LONG_TEXT}", "low")
    deadline = time.monotonic() + 120
    while api.get(f"/tasks/{busy['id']}").json()["status"] == "pending":
        assert time.monotonic() < deadline, server.log_text()[-2000:]
        time.sleep(0.05)

    # Created at once, in any order: they must run by priority, not by arrival.
    animals = {"low": "cat", "normal": "dog", "high": "horse", "urgent": "fox"}
    with ThreadPoolExecutor(len(animals)) as pool:
        made = pool.map(
            lambda item: (item[0], _task(api, f"Write one sentence about a {item[1]}.", item[0])),
            animals.items(),
        )
        waiting = {priority: task["id"] for priority, task in made}
    places: dict[str, set[int]] = {priority: set() for priority in waiting}
    finished: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 600
    while len(finished) < len(waiting):
        assert time.monotonic() < deadline, server.log_text()[-2000:]
        for priority, task_id in waiting.items():
            if priority in finished:
                continue
            task = api.get(f"/tasks/{task_id}").json()
            if task["position"] is not None:
                places[priority].add(task["position"])
            if task["status"] in ("done", "failed", "cancelled"):
                finished[priority] = task
        time.sleep(0.05)

    assert {task["status"] for task in finished.values()} == {"done"}, finished
    order = sorted(finished, key=lambda priority: finished[priority]["finished_at"])
    assert order == ["urgent", "high", "normal", "low"], places
    # While they waited, the places were shown, and the urgent task was next in line.
    assert places["urgent"] == {1}, places
    assert max(places["low"]) == 4, places
    done = api.get(f"/tasks/{busy['id']}").json()
    assert done["status"] == "done"
    assert done["finished_at"] < finished["urgent"]["finished_at"]
