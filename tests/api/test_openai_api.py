"""The OpenAI-compatible API, driven by the real `openai` SDK against a running Cadre.

The server's chat model is a remote provider pointed at a local fake of OpenAI (the
scripted replies decide what the agents "say"), so every answer, token count and tool call
is known. Keys are made with `cadre keys create` as a person would.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.knowledge.doc_files import make_pdf
from tests.models.openai_server import FakeOpenAI, fake_openai, text, tool_call
from tests.support.cli import add_user, cadre, new_api_key
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # starts a server

QUESTION = "What is the capital of France?"
HELLO = {"role": "user", "content": "hi"}
PAGES = [
    "Project Zephyr overview. The team builds a solar-powered weather station network.",
    "Budget. The hardware budget is forty thousand euros, approved by the finance board.",
    "Schedule. The Zephyr prototype deadline is 14 March 2027, set by the steering committee.",
]


def cadre_field(reply: openai.types.chat.ChatCompletion) -> dict[str, Any]:
    """The `cadre` extension of a completion."""
    extension: dict[str, Any] = (reply.model_extra or {})["cadre"]
    return extension


@dataclass
class Site:
    """The running server, its data folder, the fake model and one key per user."""

    server: RunningServer
    data: Path
    remote: FakeOpenAI
    alice: str
    bob: str

    def client(self, key: str, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.server.url}/v1", api_key=key, **options)

    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.data / "cadre.db") as db:
            return db.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("data")
    for user in ("alice", "bob"):
        add_user(data, user)
    pdf = make_pdf(data.parent / "zephyr-plan.pdf", [(None, page) for page in PAGES])
    ingested = cadre(data, "ingest", str(pdf), "--user", "alice")
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    alice, bob = new_api_key(data, "alice"), new_api_key(data, "bob")
    with (
        fake_openai() as remote,
        cadre_server(
            data, CADRE_OPENAI_BASE_URL=remote.url, CADRE_CHAT_MODEL="openai:test-model"
        ) as server,
    ):
        yield Site(server, data, remote, alice, bob)


@pytest.fixture(autouse=True)
def _fresh_script(site: Site) -> None:
    site.remote.replies.clear()
    site.remote.requests.clear()


def test_models_lists_the_chief_of_staff_and_each_operator(site: Site) -> None:
    models = [model.id for model in site.client(site.bob).models.list()]
    assert models == ["cadre", "operator:Researcher", "operator:Analyst", "operator:Writer"]
    assert site.client(site.bob).models.retrieve("operator:Writer").owned_by == "cadre"


def test_a_completion_answers_with_usage_and_is_recorded_under_the_keys_user(site: Site) -> None:
    site.remote.replies.append(text("Paris is the capital of France.", usage=(40, 7)))
    reply = site.client(site.bob).chat.completions.create(
        model="cadre", messages=[{"role": "user", "content": QUESTION}]
    )
    assert reply.choices[0].message.content == "Paris is the capital of France."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (40, 7)
    assert reply.usage.total_tokens == 47
    thread = cadre_field(reply)["thread_id"]
    owner = site.rows(
        "SELECT u.identifier, t.name FROM threads t JOIN users u ON u.id = t.user_id "
        "WHERE t.id = ?",
        thread,
    )
    assert owner == [("bob", f"API: {QUESTION}")]
    steps = site.rows(
        "SELECT type, output FROM steps WHERE thread_id = ? ORDER BY created_at", thread
    )
    assert steps == [
        ("user_message", QUESTION),
        ("assistant_message", "Paris is the capital of France."),
    ]
    usage = site.rows(
        "SELECT u.identifier, g.input_tokens, g.output_tokens FROM usage g "
        "JOIN users u ON u.id = g.user_id WHERE g.thread_id = ?",
        thread,
    )
    assert usage == [("bob", 40, 7)]


def test_a_streamed_completion_arrives_in_order_with_a_usage_chunk(site: Site) -> None:
    pieces = ["Par", "is ", "is ", "the ", "capital."]
    site.remote.replies.append(text(*pieces, usage=(30, 5)))
    stream = site.client(site.bob).chat.completions.create(
        model="cadre",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert deltas == pieces
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (30, 5)
    assert not any("step" in (c.model_extra or {}).get("cadre", {}) for c in chunks)


def test_earlier_messages_are_the_turns_history(site: Site) -> None:
    site.remote.replies.append(text("We were talking about Paris."))
    site.client(site.bob).chat.completions.create(
        model="cadre",
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": [{"type": "text", "text": "Which city was it?"}]},
        ],
    )
    sent = [(m["role"], m.get("content")) for m in site.remote.requests[0]["messages"]]
    assert sent[-3:] == [
        ("user", QUESTION),
        ("assistant", "Paris."),
        ("user", "Which city was it?"),
    ]


def test_steps_are_streamed_only_when_asked_for(site: Site) -> None:
    site.remote.replies += [
        tool_call("delegate_to_analyst", '{"instructions": "Add 48 and 12"}', "c1"),
        text("48 + 12 = 60."),  # the Analyst
        text("It is 60."),  # the Chief of Staff
    ]
    stream = site.client(site.bob).chat.completions.create(
        model="cadre",
        messages=[{"role": "user", "content": "What is 48 plus 12?"}],
        stream=True,
        extra_body={"cadre": {"steps": True}},
    )
    chunks: list[dict[str, Any]] = [c.to_dict() for c in stream]
    steps = [c["cadre"]["step"] for c in chunks if "step" in c.get("cadre", {})]
    started = [s for s in steps if s["kind"] == "delegation_started"]
    assert [(s["agent"], s["operator"]) for s in started] == [("Chief of Staff", "Analyst")]
    finished = next(s for s in steps if s["kind"] == "delegation_finished")
    assert "60" in finished["output"]
    answer = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert answer == "It is 60."


def test_an_operator_model_goes_straight_to_that_operator(site: Site) -> None:
    site.remote.replies.append(text("Dear team, thank you."))
    reply = site.client(site.bob).chat.completions.create(
        model="operator:Writer", messages=[{"role": "user", "content": "Thank the team."}]
    )
    assert reply.choices[0].message.content == "Dear team, thank you."
    assert "the Writer" in site.remote.requests[0]["messages"][0]["content"]
    tasks = site.rows(
        "SELECT operator FROM tasks WHERE thread_id = ?", cadre_field(reply)["thread_id"]
    )
    assert tasks == [("Writer",)]


def test_answers_cite_the_keys_users_documents_and_never_another_users(site: Site) -> None:
    search = '{"query": "Zephyr prototype deadline"}'
    site.remote.replies += [
        tool_call("search_documents", search),
        text("The Zephyr prototype deadline is 14 March 2027 [1]."),
    ]
    reply = site.client(site.alice).chat.completions.create(
        model="operator:Researcher",
        messages=[{"role": "user", "content": "When is the Zephyr prototype deadline?"}],
    )
    shown = json.dumps(site.remote.requests[1]["messages"])
    assert "14 March 2027" in shown
    content = reply.choices[0].message.content or ""
    assert "14 March 2027" in content
    assert "[1]" in content
    sources = cadre_field(reply)["citations"]
    assert sources[0]["index"] == 1
    assert sources[0]["document"] == "zephyr-plan.pdf"
    assert sources[0]["page"] == 3

    site.remote.requests.clear()
    site.remote.replies += [tool_call("search_documents", search), text("Nothing found.")]
    other = site.client(site.bob).chat.completions.create(
        model="operator:Researcher",
        messages=[{"role": "user", "content": "When is the Zephyr prototype deadline?"}],
    )
    assert "14 March" not in json.dumps(site.remote.requests[1]["messages"])
    assert cadre_field(other)["citations"] == []


def test_a_wrong_key_is_refused_with_openais_401(site: Site) -> None:
    for key in ("not-a-key", "cadre-00000000.wrong", site.bob[:-2] + "xx"):
        with pytest.raises(openai.AuthenticationError) as refused:
            site.client(key, max_retries=0).models.list()
        assert refused.value.status_code == 401
        error = refused.value.response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == "invalid_api_key"
    no_key = httpx.get(f"{site.server.url}/v1/models")
    assert no_key.status_code == 401
    assert "Authorization: Bearer" in no_key.json()["error"]["message"]
    assert not site.remote.requests


def test_a_revoked_key_stops_working_at_once(site: Site) -> None:
    key = new_api_key(site.data, "bob")
    assert site.client(key).models.list().data
    prefix = key.split(".")[0]
    listed = cadre(site.data, "keys", "list", "bob")
    assert prefix in listed.stdout
    assert key not in listed.stdout  # the secret is never shown again
    revoked = cadre(site.data, "keys", "revoke", prefix)
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(openai.AuthenticationError) as refused:
        site.client(key, max_retries=0).models.list()
    assert "revoked" in refused.value.message
    assert "revoked" in cadre(site.data, "keys", "list", "bob").stdout
    hashes = site.rows("SELECT key_hash FROM api_keys WHERE prefix = ?", prefix)
    assert hashes
    assert key not in hashes[0][0]


def test_an_unknown_model_is_openais_404(site: Site) -> None:
    for model in ("gpt-4o", "operator:Nobody"):
        with pytest.raises(openai.NotFoundError) as missing:
            site.client(site.bob, max_retries=0).chat.completions.create(
                model=model, messages=[{"role": "user", "content": QUESTION}]
            )
        assert missing.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        site.client(site.bob, max_retries=0).embeddings.create(model="cadre", input="x")
    assert not site.remote.requests


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "cadre", "messages": []}, "messages"),
        ({"model": "cadre"}, "messages"),
        ({"model": "cadre", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"model": "cadre", "messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
        ({"model": "cadre", "messages": [{"role": "user", "content": "hi"}], "n": 3}, "n"),
        (
            {"model": "cadre", "messages": [{"role": "user", "content": "hi"}], "tools": [{}]},
            "tools",
        ),
    ],
)
def test_a_malformed_body_is_openais_400(site: Site, body: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        site.client(site.bob, max_retries=0).post(
            "/chat/completions", body=body, cast_to=httpx.Response
        )
    error = bad.value.response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert not site.remote.requests


def test_a_body_that_is_not_json_is_a_400(site: Site) -> None:
    response = httpx.post(
        f"{site.server.url}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {site.bob}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The request body is not valid JSON."
