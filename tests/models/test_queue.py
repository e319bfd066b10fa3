"""One generation at a time, by priority then arrival, with positions for those waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agents.models.queue import (
    GenerationQueue,
    Priority,
    PrioritySemaphore,
    generation_priority,
    serving,
)


async def _use(queue: GenerationQueue, name: str, log: list[str], hold: asyncio.Event) -> None:
    async with queue.turn() as positions:
        async for position in positions:
            log.append(f"{name} waits at {position}")
        log.append(f"{name} runs")
        await hold.wait()
    log.append(f"{name} done")


async def test_callers_run_one_at_a_time_in_arrival_order() -> None:
    queue = GenerationQueue()
    log: list[str] = []
    gates = {name: asyncio.Event() for name in "abc"}
    tasks = []
    for name in "abc":
        tasks.append(asyncio.create_task(_use(queue, name, log, gates[name])))
        await asyncio.sleep(0)

    await asyncio.sleep(0.01)
    assert log == ["a runs", "b waits at 1", "c waits at 2"]
    assert queue.waiting == 2

    gates["a"].set()
    await asyncio.sleep(0.01)
    assert log[3:] == ["a done", "b runs", "c waits at 1"]

    gates["b"].set()
    gates["c"].set()
    await asyncio.gather(*tasks)
    assert log[-3:] == ["b done", "c runs", "c done"]


async def test_a_cancelled_waiter_leaves_the_line() -> None:
    queue = GenerationQueue()
    log: list[str] = []
    hold_a, hold_b, hold_c = asyncio.Event(), asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(_use(queue, "a", log, hold_a))
    await asyncio.sleep(0)
    b = asyncio.create_task(_use(queue, "b", log, hold_b))
    await asyncio.sleep(0)
    c = asyncio.create_task(_use(queue, "c", log, hold_c))
    await asyncio.sleep(0.01)

    b.cancel()
    await asyncio.sleep(0.01)
    assert log[-1] == "c waits at 1"

    hold_a.set()
    hold_c.set()
    await asyncio.gather(a, c)
    assert "b runs" not in log
    assert log[-2:] == ["c runs", "c done"]


async def test_a_cancelled_holder_hands_the_model_on() -> None:
    queue = GenerationQueue()
    log: list[str] = []
    a = asyncio.create_task(_use(queue, "a", log, asyncio.Event()))
    await asyncio.sleep(0)
    hold_b = asyncio.Event()
    b = asyncio.create_task(_use(queue, "b", log, hold_b))
    await asyncio.sleep(0.01)

    a.cancel()
    await asyncio.sleep(0.01)
    assert log[-1] == "b runs"
    hold_b.set()
    await b


# ---- priorities ---------------------------------------------------------------------------


async def _settled(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until `condition` holds (fails instead of hanging)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the queue never got there")


def _waiting(log: list[str], name: str) -> Callable[[], bool]:
    return lambda: any(line.startswith(f"{name} waits") for line in log)


async def _use_at(
    queue: GenerationQueue,
    name: str,
    priority: Priority | None,
    log: list[str],
    hold: asyncio.Event,
) -> None:
    async with queue.turn(priority) as positions:
        async for position in positions:
            log.append(f"{name} waits at {position}")
        log.append(f"{name} runs")
        await hold.wait()


async def test_waiting_callers_run_by_priority_then_arrival() -> None:
    queue = GenerationQueue()
    log: list[str] = []
    go = asyncio.Event()
    busy = asyncio.Event()
    holder = asyncio.create_task(_use_at(queue, "busy", "low", log, busy))
    await _settled(lambda: "busy runs" in log)
    order: list[tuple[str, Priority]] = [
        ("low", "low"),
        ("normal-1", "normal"),
        ("urgent", "urgent"),
        ("high", "high"),
        ("normal-2", "normal"),
    ]
    waiters = []
    for name, priority in order:
        waiters.append(asyncio.create_task(_use_at(queue, name, priority, log, go)))
        await _settled(_waiting(log, name))
    assert queue.waiting == 5

    go.set()
    busy.set()
    await asyncio.gather(holder, *waiters)
    ran = [line.removesuffix(" runs") for line in log if line.endswith(" runs")]
    assert ran == ["busy", "urgent", "high", "normal-1", "normal-2", "low"]


async def test_a_place_in_line_moves_back_when_urgent_work_arrives() -> None:
    queue = GenerationQueue()
    log: list[str] = []
    busy, go = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_use_at(queue, "busy", None, log, busy))
    await _settled(lambda: "busy runs" in log)
    normal = asyncio.create_task(_use_at(queue, "normal", "normal", log, go))
    await _settled(lambda: "normal waits at 1" in log)

    urgent = asyncio.create_task(_use_at(queue, "urgent", "urgent", log, go))
    await _settled(lambda: "normal waits at 2" in log)
    assert "urgent waits at 1" in log
    assert "normal runs" not in log

    busy.set()
    go.set()
    await asyncio.gather(holder, normal, urgent)
    assert log.index("urgent runs") < log.index("normal runs")


async def test_the_priority_of_a_call_comes_from_the_work_it_serves() -> None:
    queue = GenerationQueue()
    log: list[str] = []
    busy, go = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_use_at(queue, "busy", None, log, busy))
    await _settled(lambda: "busy runs" in log)
    chat = asyncio.create_task(_use_at(queue, "chat", None, log, go))  # a chat turn: normal
    await _settled(lambda: "chat waits at 1" in log)
    with serving("urgent"):  # a background task's turn; its model calls inherit the priority
        task = asyncio.create_task(_use_at(queue, "task", None, log, go))
    assert generation_priority.get() == "normal"
    await _settled(lambda: "chat waits at 2" in log)

    busy.set()
    go.set()
    await asyncio.gather(holder, chat, task)
    assert log.index("task runs") < log.index("chat runs")


async def test_a_high_priority_arrival_never_takes_the_model_from_its_holder() -> None:
    queue = GenerationQueue()
    log: list[str] = []
    busy, go = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_use_at(queue, "low", "low", log, busy))
    await _settled(lambda: "low runs" in log)
    urgent = asyncio.create_task(_use_at(queue, "urgent", "urgent", log, go))
    await _settled(lambda: "urgent waits at 1" in log)
    for _ in range(20):
        await asyncio.sleep(0)
    assert "urgent runs" not in log
    busy.set()
    go.set()
    await asyncio.gather(holder, urgent)
    assert log[-1] == "urgent runs"


# ---- operator slots ------------------------------------------------------------------------


async def _hold_slot(
    slots: PrioritySemaphore, name: str, priority: Priority, log: list[str], hold: asyncio.Event
) -> None:
    with serving(priority):
        async with slots:
            log.append(name)
            await hold.wait()


def _slot_waiters(slots: PrioritySemaphore, count: int) -> Callable[[], bool]:
    return lambda: slots.waiting == count


async def test_slots_admit_waiting_work_by_priority_then_arrival() -> None:
    slots = PrioritySemaphore(2)
    log: list[str] = []
    hold, go = asyncio.Event(), asyncio.Event()
    holders = [asyncio.create_task(_hold_slot(slots, n, "low", log, hold)) for n in ("a", "b")]
    await _settled(lambda: log == ["a", "b"])
    waiters = []
    arrivals: list[Priority] = ["low", "normal", "urgent"]
    for priority in arrivals:
        waiters.append(asyncio.create_task(_hold_slot(slots, priority, priority, log, go)))
        await _settled(_slot_waiters(slots, len(waiters)))
    go.set()
    hold.set()
    await asyncio.gather(*holders, *waiters)
    assert log == ["a", "b", "urgent", "normal", "low"]


async def test_a_cancelled_slot_waiter_leaves_and_the_slot_passes_on() -> None:
    slots = PrioritySemaphore(1)
    log: list[str] = []
    hold, go = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_slot(slots, "holder", "normal", log, hold))
    await _settled(lambda: log == ["holder"])
    gone = asyncio.create_task(_hold_slot(slots, "gone", "urgent", log, go))
    later = asyncio.create_task(_hold_slot(slots, "later", "low", log, go))
    await _settled(lambda: slots.waiting == 2)
    gone.cancel()
    await _settled(lambda: slots.waiting == 1)
    go.set()
    hold.set()
    await asyncio.gather(holder, later)
    assert log == ["holder", "later"]
    async with slots:  # every slot came back
        assert slots.waiting == 0
