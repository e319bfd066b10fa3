"""Two `cadre serve` processes on one PostgreSQL database and one data folder (its LanceDB
index, files and login secret), as a team scales out: a person logs in through one and goes
on through the other, and finds the same threads, documents, API keys and tasks on both.

Both servers start at the same moment (the first start's migration, admin and login secret
must come out the same), their chat model is a scripted OpenAI-compatible server, and every
step uses what a person's browser or an OpenAI client uses: the socket.io chat, the login
form, the keys page, `/v1`. Each chat (one socket.io session) stays on one process, as
sticky sessions keep it (README, "Running more than one process"). The login throttle
and a widget visitor's rate limit count through both processes together.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.db.pg import PgServer, create_database, drop_database
from tests.knowledge.doc_files import make_pdf
from tests.models.openai_server import FakeOpenAI, fake_openai, text, tool_call
from tests.support.chainlit_client import ChainlitClient, dumps, login
from tests.support.env import subprocess_env
from tests.support.server import ADMIN_PASSWORD, REPO_ROOT, RunningServer, cadre_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]  # starts two servers

PAGES = [
    "Project Zephyr overview. The team builds a solar-powered weather station network.",
    "Budget. The hardware budget is forty thousand euros, approved by the finance board.",
    "Schedule. The Zephyr prototype deadline is 14 March 2027, set by the steering committee.",
]
SHOP = "http://shop.example"
"""A site registered for the widget while both processes run."""
LIMITED_SHOP = "http://limited-shop.example"
"""A site whose visitors may send two messages a minute."""
_TOKEN = re.compile(r'name="form_token" value="([0-9a-f]+)"')
_SECRET = re.compile(r'id="new-key-value"[^>]*value="(cadre-[^"]+)"')


@dataclass
class Pair:
    """The two processes, and the scripted model both answer with."""

    a: RunningServer
    b: RunningServer
    remote: FakeOpenAI
    data: Path
    url: str
    """The database both use."""


def _start_together(
    servers: list[AbstractContextManager[RunningServer]],
) -> Iterator[list[RunningServer]]:
    """Enter every server's context at once (each waits for its own readiness)."""
    with ThreadPoolExecutor(len(servers)) as pool:
        futures = [pool.submit(server.__enter__) for server in servers]
        errors = [f.exception() for f in futures]
    try:
        if any(errors):
            raise RuntimeError(f"a server did not start: {errors}")
        yield [f.result() for f in futures]
    finally:
        for server, error in zip(servers, errors, strict=True):
            if error is None:
                server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def pair(pg_server: PgServer | str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if isinstance(pg_server, str):
        pytest.skip(f"PostgreSQL tests skipped: {pg_server}")
    url = asyncio.run(create_database(*pg_server))
    data = tmp_path_factory.mktemp("shared-data")
    try:
        with fake_openai() as remote:
            env = {
                "CADRE_DATABASE_URL": url,
                "CADRE_OPENAI_BASE_URL": remote.url,
                "CADRE_CHAT_MODEL": "openai:test-model",
                "CADRE_TEMPERATURE": "0",
            }
            servers = [cadre_server(data, log_name=f"server-{n}.log", **env) for n in "ab"]
            for a, b in _start_together(servers):  # type: ignore[misc]
                yield Pair(a, b, remote, data, url)
    finally:
        asyncio.run(drop_database(url))


async def _chat(server: RunningServer, cookie: str, thread_id: str = "") -> ChainlitClient:
    chat = ChainlitClient(server.url, cookie=cookie, thread_id=thread_id)
    await chat.connect(resume=bool(thread_id))
    return chat


async def _threads(server: RunningServer, cookie: str) -> list[dict[str, Any]]:
    """The person's conversations, as the history sidebar lists them."""
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        response = await http.post(
            "/project/threads", json={"pagination": {"first": 20}, "filter": {}}
        )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_both_processes_started_together_on_one_database(pair: Pair) -> None:
    for server in (pair.a, pair.b):
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        assert "Traceback" not in server.log_text(), server.log_text()[-3000:]


async def test_a_login_through_one_process_works_on_the_other(pair: Pair) -> None:
    cookie = await login(pair.a.url)
    async with httpx.AsyncClient(base_url=pair.b.url, headers={"Cookie": cookie}) as http:
        me = await http.get("/user")
    assert me.status_code == 200, me.text
    assert me.json()["identifier"] == "admin"
    chat = await _chat(pair.b, cookie)  # the chat's socket on B accepts A's login
    await chat.close()


async def test_a_thread_started_on_one_process_is_listed_and_resumed_on_the_other(
    pair: Pair,
) -> None:
    cookie = await login(pair.a.url)
    pair.remote.replies.append(text("Hello! Process A here, ready to help."))
    on_a = await _chat(pair.a, cookie)
    try:
        events = await on_a.ask("Hello from the first process")
        assert "Process A here" in " ".join(on_a.answers(events)), dumps(events)
    finally:
        await on_a.close()

    listed = await _threads(pair.b, cookie)
    [thread] = [t for t in listed if "Hello from the first process" in str(t.get("name"))]
    on_b = await _chat(pair.b, cookie, thread_id=thread["id"])
    try:
        assert on_b.resumed is not None
        outputs = [str(step.get("output")) for step in on_b.resumed["steps"]]
        assert "Hello from the first process" in outputs, outputs
        assert any("Process A here" in output for output in outputs), outputs

        # The conversation goes on on B, with A's turn in the model's history.
        pair.remote.replies.append(text("Process B continues the same conversation."))
        events = await on_b.ask("And now through the second process")
        assert "Process B continues" in " ".join(on_b.answers(events)), dumps(events)
        history = pair.remote.requests[-1]["messages"]
        assert any("Process A here" in str(m.get("content")) for m in history), history
    finally:
        await on_b.close()


async def test_a_document_uploaded_through_one_process_is_listed_and_cited_on_the_other(
    pair: Pair, tmp_path: Path
) -> None:
    cookie = await login(pair.a.url)
    pdf = make_pdf(tmp_path / "zephyr-plan.pdf", [(None, page) for page in PAGES])
    on_a = await _chat(pair.a, cookie)
    try:
        events = await on_a.ask_with_files("", [await on_a.upload(pdf, "application/pdf")])
        read = [s for s in on_a.messages(events).values() if str(s.get("name")).startswith("Read")]
        assert read, dumps(events)
        assert "ready" in read[-1]["output"]
    finally:
        await on_a.close()

    on_b = await _chat(pair.b, cookie)
    try:
        mark = len(on_b.events)
        await on_b.send("/documents")
        await on_b.wait_until(
            lambda ev: any("zephyr-plan.pdf" in str(e.data) for e in ev[mark:]), timeout=60
        )
        fact = "The Zephyr prototype deadline is 14 March 2027, set by the steering committee."
        pair.remote.replies += [
            tool_call("delegate_to_researcher", '{"instructions": "Zephyr deadline"}', "d1"),
            tool_call("search_documents", '{"query": "Zephyr prototype deadline"}', "s1"),
            text(f"{fact} [1]"),
            text(f"{fact} [1]"),
        ]
        events = await on_b.ask("When is the Zephyr prototype deadline?")
        answer = on_b.answers(events)[-1]
        assert "zephyr-plan.pdf" in answer, dumps(events)
        assert "page 3" in answer, answer
    finally:
        pair.remote.replies.clear()
        await on_b.close()


def _form_token(client: httpx.Client) -> str:
    page = client.get("/settings/keys")
    assert page.status_code == 200, page.text
    found = _TOKEN.search(page.text)
    assert found, page.text
    return found.group(1)


def test_an_api_key_made_on_one_process_works_on_the_other_until_revoked_there(
    pair: Pair,
) -> None:
    cookie = pair.a.login()
    with httpx.Client(base_url=pair.a.url, headers={"cookie": cookie}, timeout=60) as on_a:
        made = on_a.post(
            "/settings/keys",
            data={"name": "scale-out", "expires_days": "", "form_token": _form_token(on_a)},
            headers={"origin": pair.a.url, "sec-fetch-site": "same-origin"},
        )
        assert made.status_code == 200, made.text
        secret = _SECRET.search(made.text)
        assert secret, made.text
        key = secret.group(1)

    client_b = openai.OpenAI(base_url=f"{pair.b.url}/v1", api_key=key, max_retries=0)
    assert "cadre" in [m.id for m in client_b.models.list()]

    with httpx.Client(base_url=pair.b.url, headers={"cookie": cookie}, timeout=60) as on_b:
        page = on_b.get("/settings/keys").text
        row = next(r for r in page.split("<tr>") if key.split(".")[0] in r)
        found = re.search(r"/settings/keys/([0-9a-f-]{36})/revoke", row)
        assert found, row
        revoked = on_b.post(
            f"/settings/keys/{found.group(1)}/revoke",
            data={"form_token": _form_token(on_b)},
            headers={"origin": pair.b.url, "sec-fetch-site": "same-origin"},
        )
        assert revoked.status_code in (200, 303), revoked.text

    client_a = openai.OpenAI(base_url=f"{pair.a.url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client_a.models.list()


def _cadre(pair: Pair, *args: str, stdin: str | None = None) -> str:
    """`cadre ARGS` on the pair's database and data folder; its output (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO_ROOT,
        env=subprocess_env(CADRE_DATA_DIR=str(pair.data), CADRE_DATABASE_URL=pair.url),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _accepted(server: RunningServer, origin: str) -> None:
    """Wait until `server` has learnt of the site at `origin` (it polls the database)."""
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    async with httpx.AsyncClient(base_url=server.url, headers=preflight) as http:
        for _ in range(60):
            answer = await http.options("/project/threads")
            if answer.headers.get("access-control-allow-origin") == origin:
                return
            await asyncio.sleep(0.5)
    raise AssertionError(f"{server.url} never accepted {origin}:\n{server.log_text()[-2000:]}")


async def test_a_widget_token_from_one_process_opens_a_chat_socket_on_the_other(
    pair: Pair,
) -> None:
    _cadre(pair, "sites", "add", SHOP, "--name", "Shop")
    async with httpx.AsyncClient(base_url=pair.a.url, headers={"Origin": SHOP}) as http:
        token = await http.get("/widget/token")
    assert token.status_code == 200, token.text

    # B never served this site a token; it learns of the site from the database by itself
    # (CORS answers the site, then the socket handshake takes its Origin).
    await _accepted(pair.b, SHOP)
    chat = ChainlitClient(pair.b.url, cookie=await login(pair.b.url))
    await chat.connect(headers={"Origin": SHOP})
    await chat.close()


def test_a_task_filed_through_one_process_runs_once_and_shows_on_the_other(pair: Pair) -> None:
    key = _cadre(pair, "keys", "create", "admin", "--name", "tasks").strip()
    auth = {"Authorization": f"Bearer {key}"}
    asked = len(pair.remote.requests)
    pair.remote.replies.append(text("Three risks: cost, schedule, staffing."))
    with httpx.Client(base_url=f"{pair.a.url}/api", headers=auth, timeout=60) as on_a:
        made = on_a.post("/tasks", json={"request": "List the project risks", "priority": "high"})
    assert made.status_code in (200, 201), made.text
    task_id = made.json()["id"]

    with httpx.Client(base_url=f"{pair.b.url}/api", headers=auth, timeout=60) as on_b:
        for _ in range(600):
            task = on_b.get(f"/tasks/{task_id}").raise_for_status().json()
            if task["status"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.1)
        assert (task["status"], task["priority"]) == ("done", "high"), task
        assert "Three risks" in task["result"]
        assert task_id in [t["id"] for t in on_b.get("/tasks").raise_for_status().json()]
    assert len(pair.remote.requests) == asked + 1  # one model call: it ran in one process


def test_a_password_change_ends_the_old_session_on_both_processes(pair: Pair) -> None:
    cookie = pair.b.login()
    # The same password: the point is the sessions it ends.
    _cadre(pair, "users", "set-password", "admin", "--password-stdin", stdin=f"{ADMIN_PASSWORD}\n")
    for server in (pair.a, pair.b):
        me = httpx.get(f"{server.url}/user", headers={"Cookie": cookie}, timeout=30)
        assert me.status_code == 401, (server.url, me.text)


async def test_password_guesses_through_both_processes_count_toward_one_pause(pair: Pair) -> None:
    _cadre(pair, "users", "add", "ivan", "--password-stdin", stdin="ivan-password-123\n")
    for n in range(10):  # the limit, five guesses through each process
        server = (pair.a, pair.b)[n % 2]
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            guess = await http.post("/login", data={"username": "ivan", "password": "guess-guess"})
        assert guess.status_code == 401, guess.text
    for server in (pair.b, pair.a):
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            right = await http.post(
                "/login", data={"username": "IVAN ", "password": "ivan-password-123"}
            )
        assert right.status_code == 401, (server.url, right.text)  # paused on both
        assert "access_token" not in right.cookies
        await server.logged("refused a password login for 'IVAN' from")
    assert (await login(pair.b.url)).startswith("access_token=")  # other names still log in


async def test_a_widget_visitors_messages_through_both_processes_count_toward_one_rate(
    pair: Pair,
) -> None:
    _cadre(pair, "sites", "add", LIMITED_SHOP, "--name", "Limited Shop", "--rate", "2")
    async with httpx.AsyncClient(base_url=pair.a.url, headers={"Origin": LIMITED_SHOP}) as http:
        token = await http.get("/widget/token")
    assert token.status_code == 200, token.text
    await _accepted(pair.b, LIMITED_SHOP)
    # The same visitor (the same token), one chat on each process; the site allows two
    # messages a minute, and the three below are sent within a few seconds.
    visitor = f"access_token={token.json()['token']}"
    chats = [ChainlitClient(server.url, cookie=visitor) for server in (pair.a, pair.b)]
    try:
        for chat in chats:
            await chat.connect(headers={"Origin": LIMITED_SHOP})
        on_a, on_b = chats
        pair.remote.replies.append(text("Our shop opens at nine."))
        events = await on_a.ask("When do you open?")
        assert "opens at nine" in " ".join(on_a.answers(events)), dumps(events)
        pair.remote.replies.append(text("We close at six."))
        events = await on_b.ask("And when do you close?")
        assert "close at six" in " ".join(on_b.answers(events)), dumps(events)

        asked = len(pair.remote.requests)
        pair.remote.replies.append(text("This reply must never be sent."))
        events = await on_a.ask("Are you open on Sundays?")
        shown = " ".join(str(step.get("output")) for step in on_a.messages(events).values())
        assert "You have sent 2 messages in the last minute" in shown, dumps(events)
        assert "never be sent" not in shown
        assert len(pair.remote.requests) == asked  # refused before the model was asked
    finally:
        pair.remote.replies.clear()
        for chat in chats:
            await chat.close()
