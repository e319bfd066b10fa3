"""OpenAI's chat-completions wire format: the request Cadre accepts, the bodies it sends.

Only what a chat client needs is modelled; unknown sampling parameters (`temperature`,
`top_p`, `max_tokens`, …) are accepted and ignored, because the Chief of Staff and its
operators run with the server's settings. Features Cadre cannot honour (tool calling by
the client, several choices, images) are refused with a 400 rather than silently dropped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents.models.base import ChatMessage
from knowledge.documents import Passage

CHIEF_MODEL = "cadre"
"""The model id of the Chief of Staff (with delegation to the caller's operators)."""
OPERATOR_PREFIX = "operator:"
"""`operator:<name>` addresses one operator directly."""
OWNER = "cadre"


class ApiError(Exception):
    """An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        *,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}


def unauthorized(message: str) -> ApiError:
    """401 in OpenAI's shape (what its SDK raises as `AuthenticationError`)."""
    return ApiError(401, message, "invalid_request_error", code="invalid_api_key")


class _TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    """One message of the conversation the client sends."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[_TextPart] | None = None

    def text(self) -> str:
        """The message's text, its parts joined."""
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    """`stream_options`: a last chunk with the usage when `include_usage`."""

    include_usage: bool = False


class CadreOptions(BaseModel):
    """The `cadre` extension of the request."""

    model_config = ConfigDict(extra="forbid")

    steps: bool = False
    """Stream delegation and tool steps as `cadre` fields of extra chunks (off by default)."""


class CompletionRequest(BaseModel):
    """The body of `POST /v1/chat/completions`."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    user: str | None = Field(default=None, max_length=256)
    cadre: CadreOptions = Field(default_factory=CadreOptions)

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("Cadre returns one choice: leave n at 1")
        return value

    @classmethod
    def parse(cls, raw: bytes) -> CompletionRequest:
        """The request in `raw`, or an `ApiError` (400) naming the first bad field."""
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        for unsupported in ("tools", "functions", "tool_choice", "function_call"):
            if body.get(unsupported):
                raise ApiError(
                    400,
                    f"'{unsupported}' is not supported: Cadre's agents use their own tools.",
                    param=unsupported,
                )
        try:
            request = cls.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ApiError(400, f"Invalid '{where}': {first['msg']}.", param=where) from None
        if request.messages[-1].role != "user" or not request.messages[-1].text().strip():
            raise ApiError(400, "The last message must be the user's, with text.", param="messages")
        return request

    def question(self) -> str:
        """What the user asks now: the last message."""
        return self.messages[-1].text()

    def history(self) -> tuple[ChatMessage, ...]:
        """The earlier user and assistant messages (system messages are not forwarded)."""
        kept: list[ChatMessage] = []
        for message in self.messages[:-1]:
            if message.role == "user":
                kept.append(ChatMessage.user(message.text()))
            elif message.role == "assistant" and message.text():
                kept.append(ChatMessage.assistant(message.text()))
        return tuple(kept)


def model_entry(model_id: str, created: int) -> dict[str, Any]:
    """One entry of `GET /v1/models`."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": OWNER}


def source_list(passages: list[Passage], answer: str, markers: set[int]) -> list[dict[str, Any]]:
    """The `cadre.citations` of an answer: each passage its `[n]` markers cite."""
    seen: set[tuple[str, int]] = set()
    numbered: list[Passage] = []
    for passage in passages:
        key = (passage.document_id, passage.chunk_index)
        if key not in seen:
            seen.add(key)
            numbered.append(passage)
    return [
        {
            "index": number,
            "document": passage.document_name,
            "document_id": passage.document_id,
            "page": passage.page,
            "section": passage.section,
            "text": passage.text,
        }
        for number, passage in enumerate(numbered, start=1)
        if number in markers
    ]


@dataclass
class Completion:
    """What one call produced, for the closing chunk or the whole response."""

    id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))
    text: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    citations: list[dict[str, Any]] = field(default_factory=list)
    thread_id: str | None = None

    def usage(self) -> dict[str, int]:
        """OpenAI's usage object: every model call of the turn, operators included."""
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    def extension(self) -> dict[str, Any]:
        """The `cadre` field: sources of the `[n]` markers and the conversation's id."""
        return {"citations": self.citations, "thread_id": self.thread_id}

    def chunk(
        self,
        delta: dict[str, Any] | None,
        finish: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A `chat.completion.chunk`; `delta=None` makes the choice-less usage chunk."""
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
            **extra,
        }

    def whole(self) -> dict[str, Any]:
        """The non-streaming `chat.completion`."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(self.text)},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage(),
            "cadre": self.extension(),
        }


def sse(payload: dict[str, Any] | str) -> bytes:
    """One server-sent event."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()
