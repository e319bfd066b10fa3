"""Password hashing with Argon2id (argon2-cffi); verification never blocks the event loop."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.auth.errors import WeakPasswordError

MIN_LENGTH = 8
MAX_LENGTH = 1024
"""Long enough for any passphrase; bounded so a login request cannot buy minutes of CPU."""

# OWASP's Argon2id baseline (19 MiB, 2 passes, 1 lane): ~0.1 s per hash on a shared 2-core
# machine, which keeps logins responsive while making offline guessing expensive.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the user does not exist, so both answers take the same time.
    return _hasher.hash("cadre-timing-equalizer")


def check_strength(password: str) -> None:
    """Raise `WeakPasswordError` unless the password is acceptable."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"the password must have at most {MAX_LENGTH} characters")
    if not password.strip():
        raise WeakPasswordError("the password cannot be only spaces")


def hash_password(password: str) -> str:
    """An Argon2id hash of `password` (which must pass `check_strength`)."""
    check_strength(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash`; a missing hash costs the same time and fails."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password_async(stored_hash: str | None, password: str) -> bool:
    """`verify_password` in a worker thread: hashing is CPU work the server must not wait on."""
    return await asyncio.to_thread(verify_password, stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
