"""Cadre's agent layer: specs, tools, the runner, delegation and the Chief of Staff."""

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
from agents.knowledge_tools import KNOWLEDGE_TOOL_NAMES, knowledge_tools
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
