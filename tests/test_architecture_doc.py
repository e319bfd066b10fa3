"""The worked examples of docs/architecture.md run exactly as written."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
_EXAMPLE = re.compile(r"^### (?P<title>.+?)\n.*?```python\n(?P<code>.*?)```", re.S | re.M)


def examples() -> dict[str, str]:
    """Each "### Add …" section's Python block, by title."""
    found = {m["title"]: m["code"] for m in _EXAMPLE.finditer(DOC.read_text(encoding="utf-8"))}
    assert set(found) == {"Add a tool", "Add a provider", "Add an operator", "Add a channel"}
    return found


@pytest.mark.parametrize("title", sorted(examples()))
async def test_the_example_runs(title: str, tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"__name__": f"architecture_example_{len(title)}"}
    exec(compile(examples()[title], f"{DOC.name}: {title}", "exec"), namespace)
    main = cast(Callable[[Path], Awaitable[None]], namespace["main"])
    await main(tmp_path)
