"""Cadre's agent layer: specs, tools, the runner, delegation and the Chief of Staff.

Names are loaded on first use, so `import agents.errors` (done by the database and auth layers,
so by every `cadre` command) does not pay for the Chief of Staff, the router and the runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported now, unlike the rest: the function `knowledge_tools` shares its module's name, and
# importing a submodule later would bind `agents.knowledge_tools` to the module instead.
from agents.knowledge_tools import KNOWLEDGE_TOOL_NAMES, knowledge_tools

if TYPE_CHECKING:
    from agents.chief import ChiefOfStaff
    from agents.context import RunContext, TurnState
    from agents.delegation import Outcome, delegate, delegation_tool, delegation_tools, plan_tool
    from agents.events import (
        DelegationFinished,
        DelegationStarted,
        Notice,
        Queued,
        ReasoningDelta,
        RetrievalDone,
        RunEvent,
        RunFailed,
        RunFinished,
        RunStarted,
        TaskUpdated,
        TextDelta,
        ToolCallFinished,
        ToolCallStarted,
        UsageReported,
    )
    from agents.limits import AgentLimits, TurnLimits
    from agents.models.prices import Price, PriceTable
    from agents.roster import (
        ANALYST,
        CHIEF_OF_STAFF,
        OPERATORS,
        RESEARCHER,
        WRITER,
        builtin_tools,
        chief_instructions,
    )
    from agents.router import NONE, Route, RouterConfig, SemanticRouter
    from agents.runner import Runner, final_output
    from agents.scope import UserScope
    from agents.spec import AgentSpec
    from agents.table_query import TableLoader, table_tools
    from agents.tasks import InMemoryTaskStore, Task, TaskStatus, TaskStore
    from agents.tools import Tool, tool

_EXPORTS = {
    "ChiefOfStaff": "agents.chief",
    "RunContext": "agents.context",
    "TurnState": "agents.context",
    "Outcome": "agents.delegation",
    "delegate": "agents.delegation",
    "delegation_tool": "agents.delegation",
    "delegation_tools": "agents.delegation",
    "plan_tool": "agents.delegation",
    "DelegationFinished": "agents.events",
    "DelegationStarted": "agents.events",
    "Notice": "agents.events",
    "Queued": "agents.events",
    "ReasoningDelta": "agents.events",
    "RetrievalDone": "agents.events",
    "RunEvent": "agents.events",
    "RunFailed": "agents.events",
    "RunFinished": "agents.events",
    "RunStarted": "agents.events",
    "TaskUpdated": "agents.events",
    "TextDelta": "agents.events",
    "ToolCallFinished": "agents.events",
    "ToolCallStarted": "agents.events",
    "UsageReported": "agents.events",
    "AgentLimits": "agents.limits",
    "TurnLimits": "agents.limits",
    "Price": "agents.models.prices",
    "PriceTable": "agents.models.prices",
    "ANALYST": "agents.roster",
    "CHIEF_OF_STAFF": "agents.roster",
    "OPERATORS": "agents.roster",
    "RESEARCHER": "agents.roster",
    "WRITER": "agents.roster",
    "builtin_tools": "agents.roster",
    "chief_instructions": "agents.roster",
    "NONE": "agents.router",
    "Route": "agents.router",
    "RouterConfig": "agents.router",
    "SemanticRouter": "agents.router",
    "Runner": "agents.runner",
    "final_output": "agents.runner",
    "UserScope": "agents.scope",
    "AgentSpec": "agents.spec",
    "TableLoader": "agents.table_query",
    "table_tools": "agents.table_query",
    "InMemoryTaskStore": "agents.tasks",
    "Task": "agents.tasks",
    "TaskStatus": "agents.tasks",
    "TaskStore": "agents.tasks",
    "Tool": "agents.tools",
    "tool": "agents.tools",
}
"""Where each name below lives; imported when first asked for."""

__all__ = [
    "ANALYST",
    "CHIEF_OF_STAFF",
    "KNOWLEDGE_TOOL_NAMES",
    "NONE",
    "OPERATORS",
    "RESEARCHER",
    "WRITER",
    "AgentLimits",
    "AgentSpec",
    "ChiefOfStaff",
    "DelegationFinished",
    "DelegationStarted",
    "InMemoryTaskStore",
    "Notice",
    "Outcome",
    "Price",
    "PriceTable",
    "Queued",
    "ReasoningDelta",
    "RetrievalDone",
    "Route",
    "RouterConfig",
    "RunContext",
    "RunEvent",
    "RunFailed",
    "RunFinished",
    "RunStarted",
    "Runner",
    "SemanticRouter",
    "TableLoader",
    "Task",
    "TaskStatus",
    "TaskStore",
    "TaskUpdated",
    "TextDelta",
    "Tool",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnLimits",
    "TurnState",
    "UsageReported",
    "UserScope",
    "builtin_tools",
    "chief_instructions",
    "delegate",
    "delegation_tool",
    "delegation_tools",
    "final_output",
    "knowledge_tools",
    "plan_tool",
    "table_tools",
    "tool",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
