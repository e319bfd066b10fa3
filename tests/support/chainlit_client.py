"""A headless client that speaks Chainlit 2.12's socket.io protocol, as the web UI does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import socketio

from tests.support.server import ADMIN_PASSWORD, ADMIN_USER


@dataclass
class Received:
    """One server event, with when it arrived."""

    name: str
    data: Any
    at: float


@dataclass
class ChainlitClient:
    """Connects like the browser, sends messages, records everything the server emits."""

    base_url: str
    cookie: str | None = None
    """The `Cookie` header to send; None logs in as the test admin, "" sends none."""
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    thread_id: str = ""
    events: list[Received] = field(default_factory=list)
    resumed: dict[str, Any] | None = None
    """The thread Chainlit sent back on a resume (`resume_thread`)."""

    def __post_init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self._changed = asyncio.Event()
        self.disconnected = asyncio.Event()
        """Set when the server closes the socket (or we do)."""
        self.sio.on("*", self._record)
        self.sio.on("ask", self._on_ask)
        self.sio.on("disconnect", self._on_disconnect)
        self._replies: asyncio.Queue[Any] = asyncio.Queue()

    async def _on_disconnect(self, reason: Any = None) -> None:
        self.disconnected.set()

    async def _on_ask(self, data: Any = None) -> Any:
        # The reply to an `ask` is its ack: whatever `answer`/`press` queue next.
        await self._record("ask", data)
        return await self._replies.get()

    async def next_ask(self, *, after: int = 0, timeout: float = 120) -> dict[str, Any]:  # noqa: ASYNC109
        """The first `ask` (a question waiting for an answer) at index `after` or later."""
        return dict((await self.wait_for("ask", after=after, timeout=timeout)).data)

    def ask_actions(self, ask: dict[str, Any]) -> list[dict[str, Any]]:
        """The buttons sent for `ask` (an `AskActionMessage`), in order."""
        message_id = ask["msg"]["id"]
        return [
            e.data for e in self.events if e.name == "action" and e.data.get("forId") == message_id
        ]

    async def answer(self, text: str) -> int:
        """Type `text` into the pending `AskUserMessage`; the event index to wait from."""
        mark = len(self.events)
        await self._replies.put(
            {
                "id": str(uuid.uuid4()),
                "output": text,
                "type": "user_message",
                "name": "User",
                "createdAt": datetime.now(UTC).isoformat(),
            }
        )
        return mark

    async def press(self, ask: dict[str, Any], label: str) -> int:
        """Press the button labelled `label` of `ask`; the event index to wait from."""
        actions = self.ask_actions(ask)
        found = [a for a in actions if a.get("label") == label]
        if not found:
            raise AssertionError(
                f"no button {label!r}; offered {[a.get('label') for a in actions]}"
            )
        mark = len(self.events)
        await self._replies.put(found[0])
        return mark

    async def reply_raw(self, payload: Any) -> int:
        """Send `payload` as the ack of the pending ask, as a crafted client could."""
        mark = len(self.events)
        await self._replies.put(payload)
        return mark

    async def _record(self, name: str, data: Any = None) -> None:
        self.events.append(Received(name, data, time.monotonic()))
        self._changed.set()

    async def connect(
        self,
        *,
        resume: bool = False,
        headers: dict[str, str] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> None:
        """Open the socket with the auth payload the web UI sends, then start the chat.

        With `resume`, `thread_id` names an earlier thread: wait for Chainlit's
        `resume_thread` (the earlier turns) instead of a new chat's start. `headers` are
        added to the handshake; `auth` replaces keys of the payload (crafted clients).
        """
        if self.cookie is None:
            self.cookie = await login(self.base_url)
        headers = {**({"Cookie": self.cookie} if self.cookie else {}), **(headers or {})}
        await self.sio.connect(
            self.base_url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            headers=headers,
            auth={
                "clientType": "webapp",
                "sessionId": self.session_id,
                "threadId": self.thread_id,
                "userEnv": "{}",
                "chatProfile": "",
                **(auth or {}),
            },
            wait_timeout=30,
        )
        await self.sio.emit("connection_successful")
        if resume:
            await self._wait_for_resume()
        else:
            await self._wait_for_chat_start()

    async def _wait_for_resume(self, timeout: float = 30) -> None:  # noqa: ASYNC109
        await self.wait_until(
            lambda events: any(e.name.startswith("resume_thread") for e in events),
            timeout=timeout,
        )
        outcome = next(e for e in self.events if e.name.startswith("resume_thread"))
        if outcome.name != "resume_thread":
            raise RuntimeError(f"resume failed: {outcome.data}")
        self.resumed = outcome.data

    async def _wait_for_chat_start(self, timeout: float = 30) -> None:  # noqa: ASYNC109
        # on_chat_start runs as its own task: wait until its run step has ended.
        deadline = time.monotonic() + timeout
        while not any(
            e.name == "update_message" and e.data.get("name") == "on_chat_start"
            for e in self.events
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"chat did not start: {[e.name for e in self.events]}")
            await self.wait_for("update_message", after=len(self.events), timeout=timeout)
        ended = next(
            i
            for i, e in enumerate(self.events)
            if e.name == "update_message" and e.data.get("name") == "on_chat_start"
        )
        await self.wait_for("task_end", after=ended, timeout=timeout)

    async def send(self, text: str) -> str:
        """Send a user message; return its id."""
        message_id = str(uuid.uuid4())
        await self.sio.emit(
            "client_message",
            {
                "message": {
                    "id": message_id,
                    "output": text,
                    "type": "user_message",
                    "name": "User",
                    "createdAt": datetime.now(UTC).isoformat(),
                    "threadId": self.thread_id,
                },
                "fileReferences": [],
            },
        )
        return message_id

    async def stop(self) -> None:
        """Press the stop button."""
        await self.sio.emit("stop")

    async def wait_for(self, name: str, *, after: int = 0, timeout: float = 120) -> Received:  # noqa: ASYNC109
        """The first event called `name` at index `after` or later."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[after:]:
                if event.name == name:
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [e.name for e in self.events[after:]]
                raise TimeoutError(f"no {name!r} within {timeout}s; saw {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_until(
        self,
        predicate: Callable[[list[Received]], bool],
        *,
        timeout: float = 120,  # noqa: ASYNC109
    ) -> None:
        """Wait until `predicate(events)` holds."""
        deadline = time.monotonic() + timeout
        while not predicate(self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met; saw {[e.name for e in self.events]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def handler_ended(
        self,
        after: int,
        *,
        message_id: str | None = None,
        timeout: float = 180,  # noqa: ASYNC109
    ) -> int:
        """Wait until a message handler that began after event `after` has ended (its
        `on_message` run step closed; with `message_id`, the handler of that message), as a
        person waits for the composer; the index of that event. Another handler's late
        `task_end` (one still storing its steps) would otherwise end the next `ask` early."""

        def ended(event: Received) -> bool:
            data = event.data
            return (
                event.name == "update_message"
                and data.get("name") == "on_message"
                and bool(data.get("end"))
                and (message_id is None or data.get("parentId") == message_id)
            )

        await self.wait_until(lambda events: any(ended(e) for e in events[after:]), timeout=timeout)
        return next(i for i in range(after, len(self.events)) if ended(self.events[i]))

    async def ask(self, text: str, *, timeout: float = 180) -> list[Received]:  # noqa: ASYNC109
        """Send `text` and wait for the turn to end; return the events of that turn."""
        start = len(self.events)
        message_id = await self.send(text)
        return await self._turn(start, message_id, timeout)

    async def _turn(self, start: int, message_id: str, timeout: float) -> list[Received]:  # noqa: ASYNC109
        """The events from `start` to the `task_end` after the handler of `message_id`."""
        ended = await self.handler_ended(start, message_id=message_id, timeout=timeout)
        end = await self.wait_for("task_end", after=ended, timeout=timeout)
        return self.events[start : self.events.index(end) + 1]

    async def post_action(
        self, name: str, payload: dict[str, Any], label: str | None = None
    ) -> httpx.Response:
        """`POST /project/action` from this session for an action this client makes up, as a
        crafted client could (no button needs to have been shown); the response."""
        action = {"name": name, "payload": payload, "label": label or name, "id": "x", "forId": "y"}
        return await self._post_action(action)

    async def _post_action(self, action: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(
            base_url=self.base_url, headers={"Cookie": self.cookie or ""}
        ) as http:
            return await http.post(
                "/project/action", json={"sessionId": self.session_id, "action": action}
            )

    async def press_action(
        self, label: str, *, after: int = 0, by: ChainlitClient | None = None
    ) -> int:
        """Press the newest button `label` this chat was shown after event `after` (waiting for
        it), as the browser does: `POST /project/action`, from `by`'s session (default: this
        one); the presser's event count before the press."""
        await self.wait_until(
            lambda ev: any(e.name == "action" and e.data["label"] == label for e in ev[after:])
        )
        action = next(
            e.data for e in reversed(self.events) if e.name == "action" and e.data["label"] == label
        )
        presser = by or self
        mark = len(presser.events)
        response = await presser._post_action(action)
        assert response.status_code == 200, response.text
        return mark

    async def upload(self, path: Path, mime: str, *, ask: dict[str, Any] | None = None) -> str:
        """`POST /project/file` as the browser does before sending the message (or, with
        `ask`, in answer to an `AskFileMessage`, checked against what it accepts); the id."""
        params = {"session_id": self.session_id}
        if ask is not None:
            params["ask_parent_id"] = str(ask["msg"]["parentId"])
        async with httpx.AsyncClient(
            base_url=self.base_url, headers={"Cookie": self.cookie or ""}
        ) as http:
            response = await http.post(
                "/project/file",
                params=params,
                files={"file": (path.name, path.read_bytes(), mime)},  # noqa: ASYNC240
            )
        response.raise_for_status()
        return str(response.json()["id"])

    async def answer_files(self, ask: dict[str, Any], files: list[tuple[Path, str]]) -> int:
        """Upload `(path, mime)` files for the pending `AskFileMessage` and send them as its
        answer, as the browser's drop zone does; the event index to wait from."""
        ids = [await self.upload(path, mime, ask=ask) for path, mime in files]
        return await self.reply_raw([{"id": file_id} for file_id in ids])

    async def ask_with_files(
        self,
        text: str,
        file_ids: list[str],
        *,
        timeout: float = 300,  # noqa: ASYNC109
    ) -> list[Received]:
        """Send `text` with uploaded files attached, as the paperclip does; the turn's events."""
        start = len(self.events)
        message_id = str(uuid.uuid4())
        await self.sio.emit(
            "client_message",
            {
                "message": {
                    "id": message_id,
                    "output": text,
                    "type": "user_message",
                    "name": "User",
                    "createdAt": datetime.now(UTC).isoformat(),
                    "threadId": "",
                },
                "fileReferences": [{"id": file_id} for file_id in file_ids],
            },
        )
        return await self._turn(start, message_id, timeout)

    def answers(self, events: list[Received]) -> list[str]:
        """The Chief of Staff's messages among `events`, in order."""
        return [
            str(step["output"])
            for step in self.messages(events).values()
            if step.get("type") == "assistant_message" and step.get("name") == "Chief of Staff"
        ]

    def messages(self, events: list[Received] | None = None) -> dict[str, dict[str, Any]]:
        """Fold new/stream/update/delete events into the final steps, by id."""
        steps: dict[str, dict[str, Any]] = {}
        for event in events if events is not None else self.events:
            data = event.data
            if event.name in ("new_message", "update_message", "stream_start"):
                steps[data["id"]] = dict(data)
            elif event.name == "stream_token" and data["id"] in steps:
                step = steps[data["id"]]
                step["output"] = (
                    data["token"] if data["isSequence"] else step.get("output", "") + data["token"]
                )
            elif event.name == "delete_message":
                steps.pop(data["id"], None)
        return steps

    async def close(self) -> None:
        """Disconnect."""
        if self.sio.connected:
            await self.sio.disconnect()


async def login(base_url: str, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> str:
    """Log in with a password like the login form; returns the `Cookie` header value."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        response = await http.post("/login", data={"username": username, "password": password})
    if response.status_code != 200 or not response.cookies.get("access_token"):
        raise RuntimeError(f"login as {username} failed: {response.status_code} {response.text}")
    return f"access_token={response.cookies['access_token']}"


def tokens_of(events: list[Received], message_id: str) -> list[str]:
    """The streamed pieces of one message, in order (the first rides on stream_start)."""
    pieces: list[str] = []
    for event in events:
        if event.name == "stream_start" and event.data["id"] == message_id:
            pieces.append(event.data["output"])
        elif event.name == "stream_token" and event.data["id"] == message_id:
            pieces.append(event.data["token"])
    return pieces


def dumps(events: list[Received]) -> str:
    """Readable event log for assertion messages."""
    return "\n".join(f"{e.name}: {json.dumps(e.data)[:200]}" for e in events)
