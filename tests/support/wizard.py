"""Walk the chat's new-operator wizard over the socket, the quickest way through."""

from __future__ import annotations

from collections.abc import Sequence

from tests.support.chainlit_client import ChainlitClient


async def make_operator(
    chat: ChainlitClient,
    name: str,
    description: str,
    samples: Sequence[str],
    *,
    tools: Sequence[str] = (),
) -> None:
    """Create an operator with `/new-operator` (template instructions, the chat's model)."""
    start = len(chat.events)
    await chat.send("/new-operator")
    ask = await chat.next_ask(after=start)
    ask = await chat.next_ask(after=await chat.answer(name))
    ask = await chat.next_ask(after=await chat.answer(description))
    ask = await chat.next_ask(after=await chat.press(ask, "Template: Specialist"))
    ask = await chat.next_ask(after=await chat.press(ask, "The chat's model"))
    for tool in tools:
        ask = await chat.next_ask(after=await chat.press(ask, tool))
    ask = await chat.next_ask(after=await chat.press(ask, "Done"))
    ask = await chat.next_ask(after=await chat.press(ask, "No documents"))
    ask = await chat.next_ask(after=await chat.press(ask, "Standard"))
    review = await chat.next_ask(after=await chat.answer("\n".join(samples)))
    mark = await chat.press(review, "Save")
    await chat.wait_until(
        lambda events: any(
            e.name == "new_message" and f"Saved **{name}**" in str(e.data.get("output"))
            for e in events[mark:]
        )
    )
    await chat.handler_ended(after=start)  # the /new-operator handler, wizard and all
