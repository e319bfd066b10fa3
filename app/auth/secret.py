"""The secret that signs login tokens: from settings, from Chainlit's variable, or made once."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

from app.auth.errors import AuthConfigError
from app.settings import Settings

log = logging.getLogger(__name__)

CHAINLIT_SECRET_VAR = "CHAINLIT_AUTH_SECRET"  # nosec B105  # a variable name, not a secret
"""Where Chainlit reads the signing secret (it reads it at every token operation)."""
SECRET_FILE = "auth_secret"  # nosec B105  # a file name, not a secret
MIN_SECRET_LENGTH = 32


def ensure_auth_secret(settings: Settings) -> str:
    """Make sure Chainlit has a signing secret; returns it.

    Order: `CADRE_AUTH_SECRET`, then an existing `CHAINLIT_AUTH_SECRET`, then
    `<data_dir>/auth_secret` (created at first start with mode 0600). Rotating the secret
    logs everyone out.
    """
    if settings.auth_secret is not None:
        secret = settings.auth_secret.get_secret_value()
    elif os.environ.get(CHAINLIT_SECRET_VAR):
        secret = os.environ[CHAINLIT_SECRET_VAR]
    else:
        secret = _secret_from_file(settings.data_dir / SECRET_FILE)
    if len(secret) < MIN_SECRET_LENGTH:
        raise AuthConfigError(
            f"the login secret must have at least {MIN_SECRET_LENGTH} characters: set "
            "CADRE_AUTH_SECRET to the output of `python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`"
        )
    os.environ[CHAINLIT_SECRET_VAR] = secret
    return secret


def _secret_from_file(path: Path) -> str:
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Anyone who reads it can sign in as any user: keep it private.
        log.warning("%s was readable by others (mode %o); setting it to 0600", path, mode)
        path.chmod(0o600)
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise AuthConfigError(f"{path} is empty: delete it and start Cadre again to make a new one")
    return secret


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".auth_secret-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
            out.flush()
            os.fsync(out.fileno())
        # Atomic, and never overwrites: two first starts agree on one secret.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("created a new login secret in %s", path)
