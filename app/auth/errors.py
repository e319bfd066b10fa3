"""Errors of user management and login; each message says how to fix the problem."""

from __future__ import annotations

from agents.errors import CadreError, ConfigError


class AuthError(CadreError):
    """A user could not be created, changed or logged in."""


class UserExistsError(AuthError):
    """A user with that name already exists."""


class UnknownUserError(AuthError):
    """No user has that name."""


class InvalidUserNameError(AuthError, ValueError):
    """A user name is empty, too long or has characters that are not allowed."""


class WeakPasswordError(AuthError, ValueError):
    """A password does not meet the minimum rules."""


class SingleSignOnError(AuthError):
    """A single sign-on login was refused (state, nonce, signature, claims or account)."""


class AuthConfigError(ConfigError):
    """A login setting is missing or invalid; the message names the setting."""
