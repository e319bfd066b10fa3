"""The agents' errors: one family under `CadreError`, each message saying how to fix it."""

from __future__ import annotations

from knowledge.errors import CadreError

__all__ = [
    "BudgetExceeded",
    "CadreError",
    "CalculatorError",
    "ConfigError",
    "DeadlineExceeded",
    "DelegationError",
    "GuardError",
    "LoopDetected",
    "ModelError",
    "ModelNotFound",
    "ScriptExhausted",
    "ToolArgumentsError",
    "ToolError",
    "TurnLimitExceeded",
]


class ConfigError(CadreError):
    """A setting is missing or invalid; the message names the setting."""


class ModelError(CadreError):
    """A model could not be loaded or failed while generating."""


class ModelNotFound(ConfigError):  # noqa: N818 (a readable name beats the suffix)
    """A model id names no known provider or model."""


class ScriptExhausted(ModelError):  # noqa: N818 (a readable name beats the suffix)
    """A scripted test model was called more times than it was scripted for."""


class ToolError(CadreError):
    """A tool could not do what it was asked; the message is shown to the model as the result."""


class ToolArgumentsError(ToolError):
    """A model called a tool with arguments that do not match its schema."""


class CalculatorError(ToolError):
    """An expression the calculator refuses or cannot evaluate."""


class GuardError(CadreError):
    """A safety limit stopped a run; the message is a sentence the user can read."""


class BudgetExceeded(GuardError):  # noqa: N818 (a readable name beats the suffix)
    """The user turn spent its token budget."""


class TurnLimitExceeded(GuardError):  # noqa: N818 (a readable name beats the suffix)
    """A run took more model turns than its agent's limit allows."""


class DeadlineExceeded(GuardError):  # noqa: N818 (a readable name beats the suffix)
    """A run or the whole user turn ran past its time limit."""


class LoopDetected(GuardError):  # noqa: N818 (a readable name beats the suffix)
    """A run kept calling the same tool with the same arguments."""


class DelegationError(CadreError):
    """A delegation could not start or its operator failed; the Chief of Staff is told why."""
