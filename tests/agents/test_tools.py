"""`@tool`: schemas from type hints and docstrings, argument validation, errors as results."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel

from agents import (
    AgentSpec,
    RunContext,
    RunFinished,
    Runner,
    ToolCallFinished,
    ToolCallStarted,
    tool,
)
from agents.errors import ConfigError, ToolArgumentsError, ToolError
from agents.limits import TurnLimits
from agents.models.base import Capabilities
from agents.models.scripted import ScriptedModel
from tests.agents.agent_helpers import call, collect, of


class Row(BaseModel):
    """A row of an invoice."""

    item: str
    amount: float


@tool
async def add_invoice(
    ctx: RunContext,
    customer: str,
    rows: list[Row],
    currency: Literal["EUR", "USD"] = "EUR",
    note: str | None = None,
) -> str:
    """Record an invoice for a customer.

    Args:
        customer: Who pays.
        rows: What was sold, one row per item;
            amounts exclude tax.
        currency: Currency of every amount.
        note: Free text printed at the bottom.

    Returns:
        The invoice number.
    """
    return f"{ctx.agent}: {customer} {sum(r.amount for r in rows)} {currency}"


def test_the_schema_comes_from_type_hints_and_the_docstring() -> None:
    assert add_invoice.name == "add_invoice"
    assert add_invoice.description == "Record an invoice for a customer."
    schema = add_invoice.parameters
    assert schema["type"] == "object"
    assert schema["required"] == ["customer", "rows"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert list(props) == ["customer", "rows", "currency", "note"]  # no ctx
    assert props["customer"] == {"type": "string", "description": "Who pays."}
    assert props["rows"]["description"] == "What was sold, one row per item; amounts exclude tax."
    # Nested models are written out in place: llama.cpp's grammar cannot follow a $ref.
    assert props["rows"]["items"]["required"] == ["item", "amount"]
    assert props["rows"]["items"]["properties"]["amount"] == {"type": "number"}
    assert "$defs" not in schema
    assert "$ref" not in str(schema)
    assert props["currency"]["enum"] == ["EUR", "USD"]
    assert props["currency"]["default"] == "EUR"
    assert "title" not in schema
    assert "title" not in props["customer"]
    assert add_invoice.spec.parameters is schema


def test_arguments_are_validated_and_converted() -> None:
    args = add_invoice.validate({"customer": "ACME", "rows": [{"item": "x", "amount": "2.5"}]})
    assert args["rows"] == [Row(item="x", amount=2.5)]
    assert args["currency"] == "EUR"
    assert args["note"] is None


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"rows": []}, "customer: Field required"),
        ({"customer": "A", "rows": [{"item": "x"}]}, "rows.0.amount: Field required"),
        ({"customer": "A", "rows": [], "currency": "GBP"}, "currency: Input should be 'EUR' or"),
        ({"customer": "A", "rows": [], "colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_arguments_explain_what_to_fix(arguments: dict[str, object], problem: str) -> None:
    with pytest.raises(ToolArgumentsError) as error:
        add_invoice.validate(arguments)
    message = str(error.value)
    assert message.startswith("Invalid arguments for add_invoice: ")
    assert problem in message
    assert message.endswith("Call it again with arguments that match its schema.")


def test_tools_need_a_description_and_a_valid_name() -> None:
    def undocumented(x: int) -> int:
        return x

    with pytest.raises(ConfigError, match="needs a docstring"):
        tool(undocumented)
    with pytest.raises(ConfigError, match="must be 1-64 letters"):
        tool(name="has spaces", description="d")(undocumented)
    assert tool(name="double", description="Double it.")(undocumented).name == "double"


def _agent(*tools: str) -> AgentSpec:
    return AgentSpec(name="Clerk", description="Files things.", instructions="", tools=tools)


async def test_a_bad_call_becomes_an_error_result_the_model_recovers_from() -> None:
    model = ScriptedModel(
        [
            [call("add_invoice", "1", customer="ACME", rows=[{"item": "x", "amount": "lots"}])],
            [call("add_invoice", "2", customer="ACME", rows=[{"item": "x", "amount": 10}])],
            "Invoice recorded.",
        ]
    )
    runner = Runner(model, tools=[add_invoice])

    events = await collect(runner.stream(_agent("add_invoice"), "Invoice ACME"))

    first, second = of(events, ToolCallFinished)
    assert first.is_error
    assert "rows.0.amount: Input should be a valid number" in first.output
    assert not second.is_error
    assert second.output == "Clerk: ACME 10.0 EUR"
    assert [e.arguments for e in of(events, ToolCallStarted)][1]["customer"] == "ACME"
    assert events[-1].kind == "run_finished"


async def test_tool_failures_are_results_not_crashes() -> None:
    @tool
    def refuse(reason: str) -> str:
        """Always refuses.

        Args:
            reason: Why.
        """
        raise ToolError(f"Refused: {reason}")

    @tool
    async def crash() -> str:
        """Has a bug."""
        raise ValueError("bad state")

    @tool(timeout_s=0.01)
    async def dawdle() -> str:
        """Takes too long."""
        await asyncio.sleep(30)
        return "late"

    model = ScriptedModel(
        [
            [
                call("refuse", "a", reason="no"),
                call("crash", "b"),
                call("dawdle", "c"),
                call("missing", "d"),
            ],
            "Sorry.",
        ]
    )
    runner = Runner(model, tools=[refuse, crash, dawdle])

    events = await collect(runner.stream(_agent("refuse", "crash", "dawdle"), "Try"))

    outputs = {e.tool: (e.output, e.is_error) for e in of(events, ToolCallFinished)}
    assert outputs == {
        "refuse": ("Refused: no", True),
        "crash": ("crash failed: ValueError: bad state", True),
        "dawdle": ("dawdle did not finish within 0.01 seconds.", True),
        "missing": (
            "There is no tool named missing. Available tools: refuse, crash, dawdle.",
            True,
        ),
    }
    assert events[-1].kind == "run_finished"


@pytest.mark.parametrize("fault", ["refuse", "crash", "same call"])
async def test_a_written_call_that_fails_twice_is_said_only_when_the_tool_refused(
    fault: str,
) -> None:
    # A tool's refusal ("No column named …") is for the person; a crash's text is not.
    @tool(needs_call=lambda request: True)
    def lookup(key: str) -> str:
        """Looks a key up.

        Args:
            key: What to look up.
        """
        if fault == "crash":
            raise ValueError("/srv/cadre/secrets.db is locked")
        raise ToolError(f"No key named {key!r}.")

    second = "a" if fault == "same call" else "b"
    model = ScriptedModel(
        [[call("lookup", key="a")], [call("lookup", key=second)], "Probably 42."],
        capabilities=Capabilities(tools=False, constrained_tools=True),
    )

    events = await collect(Runner(model, tools=[lookup]).stream(_agent("lookup"), "Look up x"))

    finished = of(events, ToolCallFinished)
    final = events[-1]
    assert isinstance(final, RunFinished)
    if fault == "same call":
        # Stranger walk: the repeat was refused by the loop guard, and the person read the
        # guard's note to the model ("You already called …") instead of the tool's reason.
        assert [e.is_error for e in finished] == [True]
        assert final.output == "I could not compute that. No key named 'a'."
        return
    assert [e.is_error for e in finished] == [True, True]
    if fault == "refuse":
        assert final.output == "I could not compute that. No key named 'b'."
    else:
        assert final.output == "Probably 42."
        assert "secrets.db" not in final.output


async def test_the_turn_tool_timeout_applies_to_every_tool() -> None:
    @tool
    async def slow() -> str:
        """Slow."""
        await asyncio.sleep(30)
        return "late"

    model = ScriptedModel([[call("slow")], "Gave up."])
    runner = Runner(model, tools=[slow], limits=TurnLimits(tool_timeout_s=0.01))

    events = await collect(runner.stream(_agent("slow"), "Go"))

    [finished] = of(events, ToolCallFinished)
    assert finished.output == "slow did not finish within 0.01 seconds."


async def test_a_blocking_tool_runs_off_the_event_loop() -> None:
    import threading

    main = threading.get_ident()

    @tool
    def where() -> str:
        """Reports its thread."""
        return "worker" if threading.get_ident() != main else "event loop"

    model = ScriptedModel([[call("where")], "ok"])
    events = await collect(Runner(model, tools=[where]).stream(_agent("where"), "Where?"))
    assert of(events, ToolCallFinished)[0].output == "worker"


async def test_an_agent_naming_an_unregistered_tool_is_a_config_error() -> None:
    runner = Runner(ScriptedModel([]), tools=[add_invoice])
    with pytest.raises(ConfigError, match="not registered: search_documents"):
        runner.resolve_tools(_agent("search_documents"))
