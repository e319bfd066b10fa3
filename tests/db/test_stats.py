"""Operator stats from stored records: a real turn on scripted models, tasks and model calls
written through the real stores, and a thumbs up given through the data layer (SQLite and
PostgreSQL). Every expected figure is worked out from the rows the test wrote."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chainlit.types import Feedback

from agents import AgentSpec, RunStarted
from agents.models.base import TextChunk, Usage
from agents.models.scripted import ScriptedModel
from agents.tasks import Task
from app.auth.users import UserDirectory
from app.db.operators import OperatorStore
from app.db.stats import OperatorStats, OperatorStatsStore, Period, percentile
from app.db.stores import SqlTaskStore
from app.db.usage import UsageLedger
from app.services import Services
from app.settings import Settings
from app.turns import Caller, TurnRequest, Turns
from tests.agents.agent_helpers import call, collect, of

CLERK = AgentSpec(
    name="Clerk",
    description="Files invoices and receipts in the accounting system.",
    instructions="You are the Clerk. Say what you filed.",
    model="scripted:clerk",
    examples=("File this invoice", "Record the receipt from the supplier"),
)
WRITER_SECONDS = (2.0, 4.0, 6.0, 8.0, 100.0)


@pytest.fixture
async def services(db_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    # The Chief's model has a price, the Clerk's has none: costs are kept only where known.
    settings = Settings(
        data_dir=tmp_path,
        database_url=db_url,
        chat_model="scripted:chief",
        model_prices={"scripted:chief": (1.0, 10.0)},
    )
    shared = Services.from_settings(settings)
    yield shared
    await shared.close()


def by_name(rows: tuple[OperatorStats, ...]) -> dict[str, OperatorStats]:
    return {row.operator: row for row in rows}


async def test_stats_come_from_the_stored_tasks_usage_and_feedback(services: Services) -> None:
    users = UserDirectory(services.data_layer)
    alice = await users.add("alice", "correct horse battery")
    bob = await users.add("bob", "correct horse battery")
    await OperatorStore(services.data_layer).save(CLERK, created_by=alice.id)
    services.registry.add(
        ScriptedModel(
            [  # type: ignore[list-item]
                [call("delegate_to_clerk", instructions="File invoice 42"), Usage(120, 8)],
                [TextChunk("Invoice 42 is filed."), Usage(150, 6)],
            ],
            name="chief",
        )
    )
    services.registry.add(
        ScriptedModel([[TextChunk("Filed invoice 42."), Usage(40, 7)]], name="clerk")  # type: ignore[list-item]
    )
    start = datetime.now(UTC) - timedelta(seconds=1)

    # A real turn of alice's: the Chief of Staff delegates to the Clerk.
    caller = Caller(user_id=alice.id, thread_id="thread-alice")
    events = await collect(Turns(services).stream(caller, TurnRequest("File invoice 42")))
    turn = next(e for e in of(events, RunStarted) if e.parent_run_id is None).run_id

    # Writer tasks of alice's with known times: five done, one failed, one cancelled, and
    # one from last month (outside the period).
    now = time.time()
    store = SqlTaskStore(services.data_layer, thread_id="thread-alice", user_id=alice.id)
    for seconds in WRITER_SECONDS:
        await store.save(_task("Writer", "done", now - 60, seconds))
    await store.save(_task("Writer", "failed", now - 60, 3.0))
    await store.save(_task("Writer", "cancelled", now - 60, None))
    await store.save(_task("Writer", "done", now - 40 * 86400, 1.0))
    # A task alice asked for in the background: its Writer delegation (above) is the work,
    # so the request itself counts for no operator, neither the Writer nor the Chief.
    asked = Task.request("Writer", "Draft the memo", "Draft the memo", "normal")
    await store.save(asked.start("r", "Draft the memo").finish("done", "The memo."))
    await store.save(Task.request("Chief of Staff", "Plan", "Plan the offsite", "high"))
    ledger = UsageLedger(services.data_layer)
    for tokens_in, tokens_out, cost in ((100, 10, 0.01), (300, 30, 0.02)):
        await ledger.record(
            user_id=alice.id,
            thread_id="thread-alice",
            run_id="w",
            agent="Writer",
            model="openai:gpt-4o-mini",
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost=cost,
        )
    # bob's Writer: counted for the admin's view of everyone, never in alice's.
    await SqlTaskStore(services.data_layer, user_id=bob.id).save(_task("Writer", "done", now, 9.0))
    await ledger.record(
        user_id=bob.id,
        thread_id=None,
        run_id="b",
        agent="Writer",
        model="openai:gpt-4o-mini",
        input_tokens=5,
        output_tokens=1,
        cost=0.5,
    )

    # alice gives the turn a thumbs up as the web UI does: on the message's run (Chainlit's
    # on_message step), whose child is the answer naming its turn. A rated command's reply
    # names no turn and counts for nobody.
    answer_run, command_run = str(uuid.uuid4()), str(uuid.uuid4())
    for step_id, parent, kind, metadata in (
        (answer_run, None, "run", {}),
        (str(uuid.uuid4()), answer_run, "assistant_message", {"cadre": "answer", "run_id": turn}),
        (command_run, None, "run", {}),
        (str(uuid.uuid4()), command_run, "assistant_message", {}),
    ):
        await services.data_layer.create_step(
            {
                "id": step_id,
                "threadId": "thread-alice",
                "parentId": parent,
                "name": "on_message" if kind == "run" else "Chief of Staff",
                "type": kind,
                "output": "Invoice 42 is filed.",
                "metadata": metadata,
            }
        )
    await services.data_layer.upsert_feedback(
        Feedback(forId=answer_run, value=1, threadId="thread-alice"), as_user="alice"
    )
    await services.data_layer.upsert_feedback(
        Feedback(forId=command_run, value=0, threadId="thread-alice"), as_user="alice"
    )

    stats = OperatorStatsStore(services.data_layer)
    period = Period(since=start - timedelta(minutes=5), until=datetime.now(UTC) + timedelta(1))
    mine = await stats.report(period, user_id=alice.id)

    assert [row.operator for row in mine.operators] == ["Chief of Staff", "Clerk", "Writer"]
    rows = by_name(mine.operators)
    chief, clerk, writer = rows["Chief of Staff"], rows["Clerk"], rows["Writer"]
    assert (chief.calls, chief.input_tokens, chief.output_tokens) == (2, 270, 14)
    assert chief.cost == pytest.approx(270 * 1e-6 + 14 * 10e-6)
    assert (chief.tasks, chief.success_rate, chief.median_s) == (0, None, None)
    assert (chief.thumbs_up, chief.thumbs_down) == (1, 0)
    assert (clerk.tasks, clerk.done, clerk.success_rate) == (1, 1, 1.0)
    assert (clerk.calls, clerk.input_tokens, clerk.output_tokens, clerk.cost) == (1, 40, 7, None)
    assert clerk.median_s is not None
    assert clerk.median_s >= 0
    assert (clerk.thumbs_up, clerk.thumbs_down) == (1, 0)
    assert (writer.tasks, writer.done, writer.failed, writer.cancelled) == (7, 5, 1, 1)
    assert writer.success_rate == pytest.approx(5 / 6)
    assert writer.median_s == pytest.approx(6.0)
    assert writer.p95_s == pytest.approx(100.0)  # nearest rank: the 5th of 5
    assert (writer.calls, writer.input_tokens, writer.output_tokens) == (2, 400, 40)
    assert writer.cost == pytest.approx(0.03)
    assert (writer.thumbs_up, writer.thumbs_down) == (0, 0)  # not part of the rated turn

    assert (mine.total.thumbs_up, mine.total.thumbs_down) == (1, 0)  # one answer, rated once

    everyone = by_name((await stats.report(period)).operators)
    assert (everyone["Writer"].tasks, everyone["Writer"].input_tokens) == (8, 405)
    assert everyone["Writer"].cost == pytest.approx(0.53)
    assert by_name((await stats.report(period, user_id=bob.id)).operators).keys() == {"Writer"}

    # A thumbs down replaces the thumbs up (one per person and answer).
    await services.data_layer.upsert_feedback(
        Feedback(forId=answer_run, value=0, threadId="thread-alice"), as_user="alice"
    )
    rows = by_name((await stats.report(period, user_id=alice.id)).operators)
    assert [(rows[n].thumbs_up, rows[n].thumbs_down) for n in ("Chief of Staff", "Clerk")] == [
        (0, 1),
        (0, 1),
    ]

    # Last month held one Writer task and nothing else.
    last_month = Period(since=start - timedelta(days=41), until=start - timedelta(days=39))
    [old] = (await stats.report(last_month, user_id=alice.id)).operators
    assert (old.operator, old.tasks, old.done, old.median_s, old.calls) == ("Writer", 1, 1, 1.0, 0)


async def test_an_empty_period_gives_no_rows_and_zero_totals(services: Services) -> None:
    report = await OperatorStatsStore(services.data_layer).report(
        Period(since=datetime(2020, 1, 1, tzinfo=UTC), until=datetime(2020, 1, 2, tzinfo=UTC))
    )
    assert report.operators == ()
    total = report.total
    assert (total.tasks, total.calls, total.input_tokens, total.cost, total.success_rate) == (
        0,
        0,
        0,
        None,
        None,
    )


def test_nearest_rank_percentile() -> None:
    assert percentile([], 0.95) is None
    assert percentile([5.0], 0.95) == 5.0
    values = [float(n) for n in range(1, 21)]  # 1..20: the 19th value is the 95th percentile
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 0.5) == 10.0


def _task(operator: str, status: str, created: float, seconds: float | None) -> Task:
    started = None if seconds is None else created
    finished = None if seconds is None else created + seconds
    return Task(
        id=str(uuid.uuid4()),
        turn_id=f"turn-{uuid.uuid4()}",
        operator=operator,
        title=f"{operator} work",
        status=status,  # type: ignore[arg-type]
        created_at=created,
        started_at=started,
        finished_at=finished,
    )
