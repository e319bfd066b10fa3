"""On the default local model (no tool calls), a new operator is routed to in the next turn.

The semantic router's examples for it come from the wizard's sample requests.
"""

from __future__ import annotations

import pytest

from tests.support.chainlit_client import ChainlitClient, dumps
from tests.support.wizard import make_operator

pytestmark = pytest.mark.slow


async def test_the_router_sends_the_next_request_to_a_new_operator(client: ChainlitClient) -> None:
    await make_operator(
        client,
        "Travel Planner",
        "Plans business trips: itineraries, train and flight connections, hotels near the "
        "venue, and packing lists for the weather at the destination.",
        [
            "Plan a two-day business trip to Berlin with train connections",
            "Which hotel should I book near the conference venue in Vienna?",
            "What should I pack for a week in Oslo in winter?",
            "Find a morning flight from Madrid to Amsterdam and a hotel for two nights",
            "Make an itinerary for my sales trip to Milan and Turin",
        ],
    )
    events = await client.ask("Plan my three-day business trip to Munich: trains and a hotel.")
    steps = list(client.messages(events).values())
    route = next(s for s in steps if s.get("name") == "route" and s["type"] == "tool")
    assert "Travel Planner" in str(route.get("output")), dumps(events)
    planner = [s for s in steps if s.get("name") == "Travel Planner" and s["type"] == "llm"]
    assert planner, dumps(events)
    assert client.answers(events)[-1].strip()
