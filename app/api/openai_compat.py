"""The OpenAI-compatible API under `/v1`: any OpenAI client talks to the Chief of Staff.

A thin adapter over the channel-neutral turn (app/turns.py), like the chat: the API key
says who is asking, the request's messages say what, and the turn's events become
`chat.completion` bodies or `chat.completion.chunk` server-sent events.

- `model="cadre"` is the Chief of Staff with delegation to the key's user's operators;
  `model="operator:<name>"` hands the request straight to one operator.
- Each call is one new conversation (thread) of the key's user, named after the question,
  with the question and the answer stored like a chat turn and its tasks and token usage
  filed by the turn. OpenAI's protocol is stateless: clients resend the conversation in
  `messages`, and the earlier messages become the turn's history.
- The answer keeps its `[n]` citation markers; `cadre.citations` lists their sources
  (document and page). With `"cadre": {"steps": true}` in the request the stream also
  carries the delegation and tool steps as `cadre.step` fields of extra chunks.
- Errors have OpenAI's shape and status codes: 401 bad key, 404 unknown model or route,
  400 malformed body.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from agents import events as ev
from agents.errors import CadreError
from agents.prompt_guard import WITHHELD
from agents.scrub import scrub_error
from app.api.api_keys import ApiKeyAuth
from app.api.openai_wire import (
    CHIEF_MODEL,
    OPERATOR_PREFIX,
    ApiError,
    Completion,
    CompletionRequest,
    model_entry,
    source_list,
    sse,
    unauthorized,
)
from app.auth.api_keys import ApiKeyStore, KeyHolder
from app.auth.sites import VisitorLimitError
from app.auth.user_limits import UserLimitError
from app.services import Services
from app.turns import Caller, TurnRequest, Turns
from knowledge.documents import Passage

log = logging.getLogger(__name__)

_MARKER = re.compile(r"\[(\d{1,3})\]")
_STEP_TEXT = 2000
"""Step inputs and outputs in the `cadre.step` extension are cut to this many characters."""
_FAILED = "Sorry, something went wrong on our side; it has been logged."


def install_openai_api(app: FastAPI, services: Services) -> None:
    """Add `/v1` and its error shape to `app` (before Chainlit's catch-all mount)."""

    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body, exc.status, headers=headers)

    app.add_exception_handler(ApiError, api_error)
    app.include_router(openai_router(services))


def openai_router(services: Services) -> APIRouter:
    """`GET /v1/models`, `POST /v1/chat/completions`, and OpenAI-shaped 404s for the rest."""
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible (/v1)"])
    key_holder = ApiKeyAuth(ApiKeyStore(services.data_layer), on_error=unauthorized)
    turns = Turns(services)

    async def model_ids(holder: KeyHolder) -> list[str]:
        roster = await turns.roster(_caller(holder))
        return [CHIEF_MODEL, *(f"{OPERATOR_PREFIX}{op.name}" for op in roster)]

    @router.get("/models", summary="The models this API key may use: cadre, operator:<name>")
    async def list_models(holder: KeyHolder = Depends(key_holder)) -> dict[str, Any]:  # noqa: B008
        created = int(time.time())
        return {
            "object": "list",
            "data": [model_entry(m, created) for m in await model_ids(holder)],
        }

    @router.get("/models/{model_id:path}", summary="One model this API key may use")
    async def get_model(
        model_id: str,
        holder: KeyHolder = Depends(key_holder),  # noqa: B008
    ) -> dict[str, Any]:
        if model_id not in await model_ids(holder):
            raise _no_model(model_id)
        return model_entry(model_id, int(time.time()))

    @router.post(
        "/chat/completions",
        summary="Ask the Chief of Staff (model cadre) or one operator; streams with stream=true",
        description="The body and the answer follow OpenAI's chat completions API; the answer "
        "keeps its [n] citation markers and lists its sources in a `cadre` field.",
    )
    async def chat_completions(
        request: Request,
        holder: KeyHolder = Depends(key_holder),  # noqa: B008
    ) -> Response:
        body = CompletionRequest.parse(await request.body())
        operator = await _operator(turns, holder, body.model)
        call = _Call(services, turns, holder, body, operator)
        await call.admit()
        try:
            await call.open()
        except (CadreError, SQLAlchemyError) as exc:
            log.exception("could not start the API conversation for %s", holder.identifier)
            raise ApiError(500, _FAILED, "server_error") from exc
        if body.stream:
            return StreamingResponse(
                call.chunks(),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return JSONResponse(await call.whole())

    @router.api_route(
        "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    async def unknown_route(rest: str) -> Response:
        raise ApiError(404, f"Cadre has no /v1/{rest} route.", code="unknown_url")

    return router


def _caller(holder: KeyHolder, thread_id: str | None = None) -> Caller:
    return Caller(user_id=holder.user_id, thread_id=thread_id, role=holder.role)


def _no_model(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model '{model}' does not exist or you do not have access to it; "
        "GET /v1/models lists yours.",
        param="model",
        code="model_not_found",
    )


async def _operator(turns: Turns, holder: KeyHolder, model: str) -> str | None:
    """The operator `model` names (None for the Chief of Staff); 404 for anything else."""
    if model == CHIEF_MODEL:
        return None
    if model.startswith(OPERATOR_PREFIX):
        wanted = model.removeprefix(OPERATOR_PREFIX).strip().casefold()
        for op in await turns.roster(_caller(holder)):
            if op.name.casefold() == wanted:
                return op.name
    raise _no_model(model)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Call:
    """One API call: its conversation record, its turn, and what the turn produced."""

    services: Services
    turns: Turns
    holder: KeyHolder
    body: CompletionRequest
    operator: str | None
    thread_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    passages: list[Passage] = field(default_factory=list)
    failure: str | None = None
    root: str | None = None
    turn: AsyncGenerator[ev.RunEvent, None] | None = None

    def __post_init__(self) -> None:
        self.result = Completion(id=f"chatcmpl-{uuid.uuid4().hex}", model=self.body.model)
        self.result.thread_id = self.thread_id

    async def admit(self) -> None:
        """Start the turn, which checks the caller's limits: over one, a 429 in OpenAI's shape
        (nothing stored, nothing counted); other refusals become the answer's failure."""
        caller = _caller(self.holder, self.thread_id)
        request = TurnRequest(
            self.body.question(), history=self.body.history(), operator=self.operator
        )
        try:
            self.turn = await self.turns.start(caller, request)
        except (UserLimitError, VisitorLimitError) as exc:
            kind = "tokens" if getattr(exc, "kind", "") == "tokens" else "requests"
            raise ApiError(429, scrub_error(str(exc)), kind, code="rate_limit_exceeded") from exc
        except CadreError as exc:
            log.warning("API turn for %s refused: %s", self.holder.identifier, exc)
            self.failure = scrub_error(str(exc))

    async def open(self) -> None:
        """Start the conversation record: the thread and the question."""
        layer = self.services.data_layer
        question = self.body.question()
        await layer.update_thread(
            self.thread_id,
            name=f"API: {' '.join(question.split())[:60]}",
            user_id=self.holder.user_id,
            metadata={"channel": "api", "api_key": self.holder.prefix, "model": self.body.model}
            | ({"client_user": self.body.user} if self.body.user else {}),
        )
        await layer.create_step(
            {
                "id": str(uuid.uuid4()),
                "threadId": self.thread_id,
                "name": self.holder.identifier,
                "type": "user_message",
                "output": question,
                "createdAt": _now(),
                "metadata": {},
            }
        )

    async def _close(self) -> None:
        """Store the answer (or what there was of it) like the chat's answer message."""
        answer = "".join(self.result.text)
        if self.failure:
            answer = f"{answer}\n\n⚠️ {self.failure}" if answer else f"⚠️ {self.failure}"
        try:
            await self.services.data_layer.create_step(
                {
                    "id": str(uuid.uuid4()),
                    "threadId": self.thread_id,
                    "name": "Chief of Staff",
                    "type": "assistant_message",
                    "output": answer,
                    "createdAt": _now(),
                    "metadata": {"cadre": "answer", **self.result.usage()},
                }
            )
        except (CadreError, SQLAlchemyError):
            log.exception("could not store the API answer of thread %s", self.thread_id)

    async def _events(self) -> AsyncIterator[ev.RunEvent]:
        """The turn's events; the answer text, usage, sources and failure are collected."""
        try:
            if self.turn is not None:
                async with aclosing(self.turn) as events:
                    async for event in events:
                        self._collect(event)
                        yield event
        except CadreError as exc:
            log.warning("API turn for %s failed: %s", self.holder.identifier, exc)
            self.failure = scrub_error(str(exc))
        except Exception:
            log.exception("API turn for %s failed unexpectedly", self.holder.identifier)
            self.failure = _FAILED
        answer = "".join(self.result.text)
        markers = {int(n) for n in _MARKER.findall(answer)}
        self.result.citations = source_list(self.passages, answer, markers)

    def _collect(self, event: ev.RunEvent) -> None:
        match event:
            case ev.RunStarted() if event.parent_run_id is None:
                self.root = event.run_id
            case ev.TextDelta() if event.run_id == self.root:
                self.result.text.append(event.text)
            case ev.RunFinished() if event.run_id == self.root and event.output == WITHHELD:
                self.result.text = [WITHHELD]  # not the start of the copy streamed before it
            case ev.UsageReported():
                self.result.input_tokens += event.input_tokens
                self.result.output_tokens += event.output_tokens
            case ev.RetrievalDone():
                self.passages.extend(event.citations)
            case ev.RunFailed() if event.run_id == self.root and not event.cancelled:
                self.failure = event.error
            case _:
                pass

    async def whole(self) -> dict[str, Any]:
        """Run the turn to its end: the `chat.completion`, or an `ApiError` if it failed."""
        async for _ in self._events():
            pass
        await self._close()
        if self.failure and not self.result.text:
            raise ApiError(500, self.failure, "server_error", code="turn_failed")
        return self.result.whole()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The turn as server-sent `chat.completion.chunk`s, then `[DONE]`."""
        result = self.result
        yield sse(result.chunk({"role": "assistant", "content": ""}))
        try:
            async for event in self._events():
                if isinstance(event, ev.TextDelta) and event.run_id == self.root:
                    yield sse(result.chunk({"content": event.text}))
                elif self.body.cadre.steps and (step := _step(event)) is not None:
                    yield sse(result.chunk({}, cadre={"step": step}))
        finally:
            await self._close()
        if self.failure:
            yield sse({"error": ApiError(500, self.failure, "server_error").body["error"]})
            return
        yield sse(result.chunk({}, "stop", cadre=result.extension()))
        if self.body.stream_options is not None and self.body.stream_options.include_usage:
            yield sse(result.chunk(None, usage=result.usage()))
        yield sse("[DONE]")


def _cut(text: str) -> str:
    return text if len(text) <= _STEP_TEXT else text[:_STEP_TEXT] + "…"


def _step(event: ev.RunEvent) -> dict[str, Any] | None:
    """The `cadre.step` of an event a client may show as a step, or None."""
    base = {
        "kind": event.kind,
        "run_id": event.run_id,
        "parent_run_id": event.parent_run_id,
        "agent": event.agent,
    }
    match event:
        case ev.RunStarted():
            return base | {"model": event.model}
        case ev.DelegationStarted():
            return base | {
                "operator": event.operator,
                "instructions": _cut(event.instructions),
                "child_run_id": event.child_run_id,
            }
        case ev.DelegationFinished():
            return base | {
                "operator": event.operator,
                "output": _cut(event.output),
                "is_error": event.is_error,
                "child_run_id": event.child_run_id,
            }
        case ev.ToolCallStarted():
            return base | {"call_id": event.call_id, "tool": event.tool}
        case ev.ToolCallFinished():
            return base | {
                "call_id": event.call_id,
                "tool": event.tool,
                "output": _cut(event.output),
                "is_error": event.is_error,
            }
        case ev.RunFinished():
            return base | {"duration_s": round(event.duration_s, 3)}
        case ev.RunFailed():
            return base | {"error": event.error}
        case _:
            return None
