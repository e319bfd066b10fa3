"""Cadre's adapter layer: web server, Chainlit UI, database, CLI."""

import os
from pathlib import Path

# Chainlit reads its app root (.chainlit/, public/, chainlit.md) once, when first imported.
# Point it at the project folder so `cadre serve` works from any working directory.
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
if (_PROJECT_ROOT / ".chainlit").is_dir():
    os.environ.setdefault("CHAINLIT_APP_ROOT", str(_PROJECT_ROOT))
