"""`AgentSpec`: what an agent is, as plain data (built-ins in the roster, others from the DB)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.errors import ConfigError
from agents.limits import AgentLimits

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """`"Legal Reviewer"` → `"legal_reviewer"`: a name usable inside a tool name."""
    return _NOT_SLUG.sub("_", name.lower()).strip("_")


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """An agent as data: the Chief of Staff reads `description` to decide when to use it."""

    name: str
    """Display name, e.g. `"Researcher"`; events carry it as `agent`."""
    description: str
    """What the agent is for, in one or two sentences (shown to the Chief of Staff)."""
    instructions: str
    """The agent's system prompt."""
    model: str | None = None
    """Model id such as `"local:smollm2"`; `None` uses the runner's default model."""
    tools: tuple[str, ...] = ()
    """Names of tools from the runner's tool registry."""
    knowledge_scope: tuple[str, ...] | None = None
    """Document ids its knowledge tools may search; `None` means all of the owner's."""
    knowledge_owner: str | None = None
    """Whose documents it searches: the admin who chose `knowledge_scope`, or a shared
    collection (with `knowledge_scope` `None`: all of it); `None` for the asking user's own."""
    limits: AgentLimits = field(default_factory=AgentLimits)
    examples: tuple[str, ...] = ()
    """Typical requests it should get; the semantic router matches against them."""
    grounded: bool = False
    """Answers only from the passages its tools retrieve. On models that cannot be trusted to
    cite (the bundled ones) the answer is written from those passages and its citations are
    attached and checked in code (`agents/cited_answer.py`)."""

    def __post_init__(self) -> None:
        if not self.slug:
            raise ConfigError(f"Agent name {self.name!r} needs at least one letter or digit.")
        if not self.description.strip():
            raise ConfigError(f"Agent {self.name!r} needs a description saying what it is for.")

    @property
    def slug(self) -> str:
        """The name in lower snake case, used in tool names (`delegate_to_<slug>`)."""
        return slugify(self.name)
