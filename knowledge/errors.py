"""Cadre's root error, and why a file could not be turned into a document.

`CadreError` lives here because `knowledge` is the lowest layer: `agents` and `app` import
it, never the reverse, so every error Cadre raises on purpose shares this one root and a
channel can show any of them as the sentence it carries.
"""

# ruff: noqa: N818  (these names are the vocabulary the issue and the UI use)

from __future__ import annotations

import errno
from typing import Any, ClassVar


def _megabytes(size: float) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _rebuild(cls: type[KnowledgeError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class CadreError(Exception):
    """Base class for every error Cadre raises on purpose; `str(error)` is a sentence to show."""


class KnowledgeError(CadreError):
    """A problem with a user's document; `str(error)` is the sentence to show them."""

    code: ClassVar[str] = "error"
    """Short, stable reason for a failed document's status (e.g. `encrypted`)."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        """The file's display name, when the error is about one file."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross the sandbox's process boundary; the subclasses' constructors take
        # other arguments than `args`, so rebuild from the finished message instead.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def __str__(self) -> str:
        return self.message


class UnsupportedFile(KnowledgeError):
    """The content is not a format Cadre reads (an image, an archive, an old .doc…)."""

    code = "unsupported"

    def __init__(self, name: str, what: str | None = None) -> None:
        found = f" (it is {what})" if what else ""
        super().__init__(
            f"{name} is not a file type Cadre can read{found}; upload a PDF, Word (.docx), "
            "Excel (.xlsx, .ods), e-mail (.eml), HTML, Markdown, CSV, plain-text or "
            "source-code file, or a picture (PNG, JPEG, WebP, TIFF).",
            name=name,
        )
        self.what = what


class MislabeledFile(UnsupportedFile):
    """The name promises one document format and the content is another (a `.pdf` of HTML)."""

    code = "mislabeled"

    def __init__(self, name: str, claimed: str, actual: str) -> None:
        KnowledgeError.__init__(
            self,
            f"{name} is not really a {claimed} file: its content is {actual}. "
            f"Export it as a real {claimed}, or rename it to match what it contains, "
            "and upload it again.",
            name=name,
        )
        self.what = actual
        self.claimed = claimed


class FileTooLarge(KnowledgeError):
    """The file is bigger than the configured upload limit."""

    code = "too_large"

    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(
            f"{name} is {_megabytes(size)}, over the {_megabytes(limit)} limit; "
            "split it into smaller files or ask an admin to raise the limit.",
            name=name,
        )
        self.size = size
        self.limit = limit


class EncryptedDocument(KnowledgeError):
    """The document needs a password to open."""

    code = "encrypted"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is password-protected; remove the password and upload it again.",
            name=name,
        )


class NoExtractableText(KnowledgeError):
    """A scan or photo in which OCR found no text (a PDF of images, a picture)."""

    code = "no_text"

    def __init__(self, name: str, *, picture: bool = False) -> None:
        what = "its picture" if picture else "its pages, which are images without a text layer"
        super().__init__(
            f"{name} has no extractable text: text recognition (OCR) found none in {what}. "
            "If it does show text, scan it again sharper (300 DPI, straight, well lit) "
            "and upload the result.",
            name=name,
        )


class CorruptDocument(KnowledgeError):
    """The file is damaged: truncated, malformed, or it crashed the reader."""

    code = "corrupt"

    def __init__(self, name: str, kind: str, detail: str | None = None) -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"{name} could not be read as {kind}: the file looks damaged or incomplete{why}. "
            "Open it in its application, save or export it again, and upload the new copy.",
            name=name,
        )
        self.kind = kind


class UnsafeDocument(KnowledgeError):
    """The file carries a construct no normal document has and readers are attacked with
    (zip-slip member names, XML entity declarations)."""

    code = "unsafe"

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(
            f"{name} was refused: {detail}. Ordinary documents never contain this; it is "
            "used to attack the programs that read files. If you trust the file, open it in "
            "its application, save it again, and upload the new copy.",
            name=name,
        )
        self.detail = detail


class EmptyDocument(KnowledgeError):
    """The file has no text at all."""

    code = "empty"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is empty: it contains no text to search; "
            "check that you picked the right file.",
            name=name,
        )


class ParseTimeout(KnowledgeError):
    """Reading the file took longer than the configured time limit."""

    code = "timeout"

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(
            f"Reading {name} took longer than {seconds:g} s and was stopped; "
            "split it into smaller files or ask an admin to raise the time limit.",
            name=name,
        )
        self.seconds = seconds


class ParseResourceLimit(KnowledgeError):
    """The file needs more memory, pages or unpacked space than the limits allow."""

    code = "resource_limit"

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(
            f"{name} is too big to read safely: {detail}. "
            "Split it into smaller files or ask an admin to raise the limit.",
            name=name,
        )
        self.detail = detail


class ParserUnavailable(KnowledgeError):
    """The sandboxed reader could not be started: a server problem, not the file's."""

    code = "unavailable"

    def __init__(self, name: str | None, detail: str) -> None:
        about = f" for {name}" if name else ""
        super().__init__(
            f"Cadre's document reader could not start{about} ({detail}); try again in a "
            "moment, and tell an admin if it keeps failing.",
            name=name,
        )


class DiskFull(KnowledgeError):
    """The server's disk has no space left (the document index or the database): the
    server's problem, not the file's; nothing of the file was kept."""

    code = "disk_full"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"The server's disk is full: {name} could not be stored, and nothing of it was "
            "saved. Free space on the server (or ask an admin to), then upload it again.",
            name=name,
        )


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it came from, says the disk ran out of space.

    The OS says ENOSPC; LanceDB and Arrow wrap it in their own errors whose message keeps
    the OS's words; SQLite says "database or disk is full".
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        message = str(current).lower()
        if "no space left on device" in message or "database or disk is full" in message:
            return True
        current = current.__cause__ or current.__context__
    return False


class ModelFileChanged(CadreError):
    """A bundled model file does not match its published checksum; nothing was loaded."""
