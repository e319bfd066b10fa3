"""`parse_file`: size check, content sniffing, then the right format parser, in this process."""

from __future__ import annotations

import logging
import stat
import warnings
from collections.abc import Callable
from pathlib import Path

from knowledge.documents import ParsedDocument
from knowledge.errors import (
    CorruptDocument,
    EmptyDocument,
    FileTooLarge,
    KnowledgeError,
    ParseResourceLimit,
    UnsupportedFile,
)
from knowledge.parsing import (
    code,
    csv,
    docx,
    html,
    image,
    mail,
    markdown,
    ods,
    pdf,
    text,
    xlsx,
)
from knowledge.parsing._shared import Progress
from knowledge.parsing.limits import ParseLimits
from knowledge.sniff import Kind, sniff

logger = logging.getLogger(__name__)

_MAX_LOGGED_WARNINGS = 20

Parser = Callable[..., ParsedDocument]

PARSERS: dict[Kind, Parser] = {
    "pdf": pdf.parse,
    "docx": docx.parse,
    "xlsx": xlsx.parse,
    "ods": ods.parse,
    "image": image.parse,
    "email": mail.parse,
    "html": html.parse,
    "markdown": markdown.parse,
    "csv": csv.parse,
    "code": code.parse,
    "text": text.parse,
}

_KIND_NAMES: dict[Kind, str] = {
    "pdf": "a PDF",
    "docx": "a Word document",
    "xlsx": "an Excel workbook",
    "ods": "an OpenDocument spreadsheet",
    "image": "a picture",
    "email": "an e-mail",
    "html": "HTML",
    "markdown": "Markdown",
    "csv": "CSV",
    "code": "source code",
    "text": "text",
}


class _WarningLog:
    """Logs the first few warnings a parse raises; a hostile file can raise millions."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._count = 0

    def __call__(self, message: Warning | str, *args: object, **kwargs: object) -> None:
        self._count += 1
        if self._count <= _MAX_LOGGED_WARNINGS:
            logger.info("While parsing %s: %s", self._name, message)


def check_file(path: Path, *, name: str, limits: ParseLimits) -> int:
    """Refuse what is not a regular, non-empty file within the size limit; return its size."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise UnsupportedFile(name, "missing: the upload did not arrive") from exc
    if not stat.S_ISREG(info.st_mode):
        # A FIFO or device would block or never end; a directory has no content.
        raise UnsupportedFile(name, "not a regular file")
    if info.st_size > limits.max_file_bytes:
        raise FileTooLarge(name, info.st_size, limits.max_file_bytes)
    if info.st_size == 0:
        raise EmptyDocument(name)
    return info.st_size


def parse_file(
    path: Path | str,
    *,
    name: str | None = None,
    limits: ParseLimits | None = None,
    progress: Progress | None = None,
    email_depth: int = 0,
) -> ParsedDocument:
    """Turn a file into a `ParsedDocument` in this process (use the sandbox for uploads).

    Args:
        path: The file to read.
        name: The name to show the user and to hint between text kinds; defaults to the
            file's own name.
        limits: Size and content ceilings; defaults to `ParseLimits()`.
        progress: Called as `progress(done, total)` (PDF pages, XLSX sheets).
        email_depth: How many messages this file is attached inside (bounds the nesting).

    Raises:
        KnowledgeError: one of its subclasses, whose message tells the user what to do.
    """
    path = Path(path)
    name = name or path.name
    limits = limits or ParseLimits()
    check_file(path, name=name, limits=limits)
    kind = sniff(path, name=name)
    try:
        with warnings.catch_warnings():
            # Parser libraries warn about every quirk of malformed input (pypdf, openpyxl);
            # those are log lines, never failures, whatever the process's warning filters.
            warnings.simplefilter("always")
            warnings.showwarning = _WarningLog(name)
            if kind == "email":
                document = mail.parse(
                    path,
                    name=name,
                    limits=limits,
                    progress=progress,
                    email_depth=email_depth,
                    parse_file=parse_file,
                )
            else:
                document = PARSERS[kind](path, name=name, limits=limits, progress=progress)
    except KnowledgeError:
        raise
    except MemoryError as exc:
        raise ParseResourceLimit(name, "it needs more memory than the parser may use") from exc
    except RecursionError as exc:
        raise CorruptDocument(name, _KIND_NAMES[kind], "it is nested too deeply") from exc
    except Exception as exc:
        # Parsers of hostile input fail in any number of ways (pypdf alone raises a dozen
        # types); whatever it is, this file cannot be read, so say that and keep the detail
        # in the log.
        logger.warning("Could not parse %s as %s", name, kind, exc_info=True)
        raise CorruptDocument(name, _KIND_NAMES[kind]) from exc
    if not document.sections:
        raise EmptyDocument(name)
    return document
