"""One generation at a time, in arrival order, with positions for those waiting."""

from __future__ import annotations

import asyncio

from agents.models.queue import GenerationQueue


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
