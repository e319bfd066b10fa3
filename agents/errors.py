"""One family of errors, each with a message that says how to fix the problem."""

from __future__ import annotations


class CadreError(Exception):
    """Base class for every error Cadre raises on purpose."""


class ConfigError(CadreError):
    """A setting is missing or invalid; the message names the setting."""


class ModelError(CadreError):
    """A model could not be loaded or failed while generating."""


class ModelNotFound(ConfigError):
    """A model id names no known provider or model."""


class ScriptExhausted(ModelError):
    """A scripted test model was called more times than it was scripted for."""
