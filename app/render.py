"""Turn model and agent events into what the person sees in Chainlit."""

from __future__ import annotations

import chainlit as cl

from agents.models.base import (
    Finish,
    FinishReason,
    ModelEvent,
    Queued,
    TextDelta,
    ToolCall,
    Usage,
)

CHIEF_OF_STAFF = "Chief of Staff"


def queue_notice(position: int) -> str:
    """The sentence a waiting person reads."""
    ahead = "1 request" if position == 1 else f"{position} requests"
    return (
        f"⏳ The model is busy: {ahead} ahead of yours. Your answer starts as soon as it is free."
    )


class ReplyRenderer:
    """Streams one assistant reply token by token, with a queue notice while waiting."""

    def __init__(self, author: str = CHIEF_OF_STAFF) -> None:
        self.message = cl.Message(content="", author=author)
        self.usage = Usage()
        self.finish_reason: FinishReason | None = None
        self._notice: cl.Message | None = None

    async def handle(self, event: ModelEvent) -> None:
        """Show one model event."""
        match event:
            case Queued(position=position):
                await self._show_notice(queue_notice(position))
            case TextDelta(text=text):
                await self._clear_notice()
                await self.message.stream_token(text)
            case Usage():
                self.usage = self.usage + event
            case Finish(reason=reason):
                self.finish_reason = reason
            case ToolCall():
                pass  # plain chat asks for no tools; agent runs render their own events

    async def close(self, *, stopped: bool = False, error: str | None = None) -> str:
        """Finish the message (also after a stop or an error) and return its text."""
        await self._clear_notice()
        answer = self.message.content
        if error:
            self.message.content = f"{answer}\n\n⚠️ {error}" if answer else f"⚠️ {error}"
        elif self.finish_reason == "length":
            self.message.content += "\n\n*(The answer reached the length limit.)*"
        elif not answer and not stopped:
            self.message.content = "*(The model returned an empty answer. Try rephrasing.)*"
        if answer or not stopped or error:
            self.message.metadata = {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "stopped": stopped,
            }
            await self.message.send()
        return answer

    async def _show_notice(self, text: str) -> None:
        if self._notice is None:
            self._notice = cl.Message(content=text, author=self.message.author)
            await self._notice.send()
        else:
            self._notice.content = text
            await self._notice.update()

    async def _clear_notice(self) -> None:
        if self._notice is not None:
            await self._notice.remove()
            self._notice = None
