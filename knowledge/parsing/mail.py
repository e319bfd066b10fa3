"""E-mail (.eml, RFC 5322/MIME) with the standard library's `email` package.

The message becomes one section titled by its subject: the headers a person searches by
(from, to, cc, date, subject) head the text, then the body (the plain-text part, or the
HTML part as text). The same headers go into every section's `meta`, so a citation names
the sender and date, and `thread` (the subject without `Re:`/`Fwd:`) makes the replies of
one conversation recognisable. Each attachment is parsed here too, in the same worker and
under the same limits, and comes back as an `Attachment`: the pipeline stores it as a
document of its own, linked to the message.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections.abc import Callable
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path, PurePath

from knowledge.documents import Attachment, ParsedDocument, Section
from knowledge.errors import FileTooLarge, KnowledgeError, ParseResourceLimit
from knowledge.parsing._shared import Progress, TextBudget, nonblank, tidy
from knowledge.parsing.html import html_sections
from knowledge.parsing.limits import ParseLimits
from knowledge.sniff import decode_text

logger = logging.getLogger(__name__)

MAX_ATTACHMENTS = 50
"""Most attachments read from one message; more are refused with the message."""
MAX_DEPTH = 2
"""A message attached to a message is read; one level deeper, its attachments are not."""
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg|sv|vs|tr|rv)\s*(\[\d+\])?\s*:\s*)+", re.I)
_HEADERS = ("from", "to", "cc", "date", "subject")


def thread_of(subject: str) -> str:
    """The conversation a subject belongs to: without `Re:`, `Fwd:`, `AW:`… prefixes."""
    return " ".join(_REPLY_PREFIX.sub("", subject).split())


def _header_values(message: Message, header: str) -> list[str]:
    """Every value of `header`, as text; a value the standard library cannot parse, raw.

    The `email` package's structured header parser fails on some malformed headers (an
    address list ending in a bare `<` raises IndexError, found by fuzzing): such a message
    is still readable, so its headers are shown as they were written.
    """
    try:
        return [str(value) for value in message.get_all(header, [])]
    except (IndexError, ValueError, TypeError) as exc:
        logger.info("Unparseable %s header, kept as written: %r", header, exc)
        raw = [value for key, value in message.raw_items() if key.lower() == header]
        return [str(value) for value in raw]


def _addresses(message: Message, header: str) -> str:
    values = _header_values(message, header)
    people = []
    for display, address in getaddresses(values):
        if display and address:
            people.append(f"{display} <{address}>")
        elif address or display:
            people.append(address or display)
    return ", ".join(people)


def _date(message: Message) -> str:
    raw = " ".join(_header_values(message, "date")[:1])
    if not raw:
        return ""
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return " ".join(raw.split())
    return when.strftime("%Y-%m-%d %H:%M")


def _headers(message: Message) -> dict[str, str]:
    subject = " ".join(" ".join(_header_values(message, "subject")[:1]).split())
    found = {
        "from": _addresses(message, "from"),
        "to": _addresses(message, "to"),
        "cc": _addresses(message, "cc"),
        "date": _date(message),
        "subject": subject,
        "thread": thread_of(subject),
    }
    return {key: value for key, value in found.items() if value}


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset()
    if charset:
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            pass
    return decode_text(payload) or payload.decode("utf-8", errors="replace")


def _body(message: EmailMessage, *, name: str, limits: ParseLimits) -> list[Section]:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return []
    text = _part_text(part)
    if part.get_content_subtype() == "html":
        try:
            sections, _ = html_sections(text, name=name, limits=limits)
        except KnowledgeError:
            return []
        return sections
    return [Section(text=tidy(text))]


def _attachment_bytes(part: Message) -> bytes | None:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        return inner.as_bytes() if isinstance(inner, Message) else None
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else None


def _attachment_name(part: Message, number: int) -> str:
    filename = part.get_filename() or ""
    # Only the last path component: a name like "../../etc/passwd" is a label, not a path.
    filename = PurePath(filename.replace("\\", "/")).name.strip()
    if not filename and part.get_content_type() == "message/rfc822":
        filename = f"attached-message-{number}.eml"
    return filename or f"attachment-{number}"


def _read_attachment(
    data: bytes,
    filename: str,
    *,
    limits: ParseLimits,
    depth: int,
    folder: Path,
    parse_file: Callable[..., ParsedDocument],
) -> Attachment:
    document_id = hashlib.sha256(data).hexdigest()[:32]
    path = folder / f"attachment-{document_id}"
    path.write_bytes(data)
    try:
        document = parse_file(path, name=filename, limits=limits, email_depth=depth + 1)
    except KnowledgeError as error:
        return Attachment(filename, document_id, reason=str(error), code=error.code)
    finally:
        path.unlink(missing_ok=True)
    return Attachment(filename, document_id, document)


def parse(
    path: Path,
    *,
    name: str,
    limits: ParseLimits,
    progress: Progress | None = None,
    email_depth: int = 0,
    parse_file: Callable[..., ParsedDocument] | None = None,
) -> ParsedDocument:
    """Read a message: headers and body as one section; attachments parsed alongside.

    `parse_file` reads each attachment (`knowledge.parsing.dispatch.parse_file`, which
    passes itself); without it, attachments are listed in the metadata but not read.
    """
    budget = TextBudget(name, limits.max_text_chars)
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    meta = _headers(message)
    header_lines = [f"{key.capitalize()}: {meta[key]}" for key in _HEADERS if key in meta]
    title = meta.get("subject")
    sections = []
    for index, body in enumerate(_body(message, name=name, limits=limits) or [Section("")]):
        # The headers open the message's text, so a search for the sender finds it.
        text = body.text if index else "\n".join(header_lines) + "\n\n" + body.text
        heading = body.title if body.title != title else None
        path_title = " › ".join(t for t in (title, heading) if t) or None
        # The headers, and what the HTML body's parser noted (text it hid, dropped).
        sections.append(
            Section(budget.spend(text.strip()), title=path_title, meta={**meta, **body.meta})
        )
    parts = list(message.iter_attachments())
    if len(parts) > MAX_ATTACHMENTS:
        raise ParseResourceLimit(
            name, f"it has {len(parts):,} attachments, over the limit of {MAX_ATTACHMENTS}"
        )
    attachments: list[Attachment] = []
    if email_depth < MAX_DEPTH and parts and parse_file is not None:
        with tempfile.TemporaryDirectory(prefix="cadre-mail-") as folder:
            for number, part in enumerate(parts, start=1):
                filename = _attachment_name(part, number)
                data = _attachment_bytes(part)
                if not data:
                    continue
                if len(data) > limits.max_file_bytes:
                    error = FileTooLarge(filename, len(data), limits.max_file_bytes)
                    digest = hashlib.sha256(data).hexdigest()[:32]
                    attachments.append(
                        Attachment(filename, digest, reason=str(error), code=error.code)
                    )
                    continue
                attachments.append(
                    _read_attachment(
                        data,
                        filename,
                        limits=limits,
                        depth=email_depth,
                        folder=Path(folder),
                        parse_file=parse_file,
                    )
                )
                if progress is not None:
                    progress(number, len(parts))
    if progress is not None:
        progress(1, 1)
    metadata = dict(meta)
    if parts:
        metadata["attachments"] = ", ".join(_attachment_name(p, n) for n, p in enumerate(parts, 1))
    return ParsedDocument(
        name=name,
        kind="email",
        sections=nonblank(sections),
        metadata=metadata,
        attachments=tuple(attachments),
    )
