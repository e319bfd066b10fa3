"""Options every `cadre` command shares, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.settings import Settings

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where Cadre keeps its data [env: CADRE_DATA_DIR]."),
]


def load_settings(data_dir: Path | None) -> Settings:
    """The settings from the environment, with `--data-dir` winning when given."""
    return Settings() if data_dir is None else Settings(data_dir=data_dir)
