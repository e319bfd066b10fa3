"""The parser the fuzz tests' sandbox workers run: `parse_file`, with stray exceptions named.

`parse_file` turns any exception a parser library raises into a generic `CorruptDocument`
and logs the detail; here that refusal carries `UNEXPECTED` and the exception's type, so a
fuzz test can tell our own clear refusals from a stray exception. Workers start from a clean
interpreter, so the fixture puts this folder on `sys.path` and imports it by this name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from knowledge.documents import ParsedDocument
from knowledge.errors import CorruptDocument
from knowledge.parsing import parse_file

UNEXPECTED = "UNEXPECTED"
"""Marks a refusal that came from the dispatcher's catch-all rather than a parser's own error."""


class _Caught(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.types: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            kind = record.args[-1] if isinstance(record.args, tuple) and record.args else "?"
            what = f"{type(error).__module__}.{type(error).__qualname__}"
            self.types.append(f"[{kind}] {what}: {error}")


def strict_parse(path: Path, **kwargs: Any) -> ParsedDocument:
    """`parse_file`, with the type of any stray exception put into the refusal (worker side)."""
    dispatch = logging.getLogger("knowledge.parsing.dispatch")
    caught = _Caught()
    dispatch.addHandler(caught)
    try:
        return parse_file(path, **kwargs)
    except CorruptDocument as exc:
        if caught.types:
            name = kwargs.get("name") or Path(path).name
            detail = f"{UNEXPECTED} {caught.types[0]}"[:300]
            raise CorruptDocument(name, "a document", detail) from exc
        raise
    finally:
        dispatch.removeHandler(caught)
