"""Errors the persistence layer raises on purpose; each message says how to fix it."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from agents.errors import CadreError


class PersistenceError(CadreError):
    """Something could not be stored or read back."""


class NotFoundError(PersistenceError, HTTPException):
    """The object does not exist, or belongs to someone else (the two are never told apart).

    Also an HTTP 404, so a Chainlit route that lets it through answers "not found".
    """

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        HTTPException.__init__(self, status_code=404, detail=message)


class OwnershipError(PersistenceError):
    """A write would move a thread to another owner; owners never change."""


class RemoteElementError(PersistenceError):
    """An element only has a URL; Cadre never fetches URLs on the server's behalf."""


class ElementPathError(PersistenceError):
    """An element names a file outside Cadre's folders; Cadre never reads other files."""


class StorageKeyError(PersistenceError, ValueError):
    """An object key is malformed or points outside the storage directory."""


class MigrationError(PersistenceError):
    """The database schema could not be brought to the expected revision."""
