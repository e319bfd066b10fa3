"""A process of concurrent writers for the durability tests (each process has its own engine).

    python tests/db/writer.py URL FILES_DIR PREFIX WRITERS STEPS   (repo root on PYTHONPATH)

Prints `committed <step id>` after each step's transaction commits, then `done`. With
STEPS = 0 every writer writes until the process is killed.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import chainlit as cl

from app.db.chainlit_data.layer import CadreDataLayer


def step(thread_id: str, n: int, size: int = 2000) -> dict[str, object]:
    """A StepDict like the ones Message.to_dict() produces, with a sizeable body."""
    return {
        "id": str(uuid.uuid4()),
        "threadId": thread_id,
        "parentId": None,
        "type": "assistant_message",
        "name": "Chief of Staff",
        "output": f"reply {n} " + "x" * size,
        "createdAt": f"2026-01-01T00:00:{n % 60:02d}.{n:06d}Z",
        "streaming": False,
        "metadata": {"n": n},
        "tags": ["durability"],
    }


async def write(layer: CadreDataLayer, user_id: str, prefix: str, writer: int, steps: int) -> int:
    thread_id = f"{prefix}-{writer}-{uuid.uuid4().hex[:8]}"
    await layer.update_thread(thread_id, name=f"{prefix} {writer}", user_id=user_id)
    n = 0
    while steps == 0 or n < steps:
        payload = step(thread_id, n)
        await layer.create_step(payload)  # type: ignore[arg-type]
        print(f"committed {payload['id']}", flush=True)
        n += 1
    return n


async def main(url: str, files: str, prefix: str, writers: int, steps: int) -> None:
    layer = CadreDataLayer.from_url(url, Path(files))
    try:
        user = await layer.create_user(cl.User(identifier=prefix))
        assert user is not None
        print("ready", flush=True)
        await asyncio.gather(*(write(layer, user.id, prefix, w, steps) for w in range(writers)))
    finally:
        await layer.close()
    print("done", flush=True)


if __name__ == "__main__":
    url, files, prefix, writers, steps = sys.argv[1:6]
    asyncio.run(main(url, files, prefix, int(writers), int(steps)))
