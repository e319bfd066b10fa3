"""What a zip-based document (Word, Excel, OpenDocument) may hold: part names that stay
inside it, and XML parts without a document type declaration.

No Office or OpenDocument file has either. A `../` name (zip slip) escapes any folder the
file is unpacked into; a DTD is how XML readers are attacked: external entities read local
files or URLs (XXE), nested ones expand a kilobyte into gigabytes (the billion laughs). The
readers Cadre uses happen to resist both today, by settings that a library upgrade could
change; refusing the file says plainly why it was not read.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from typing import IO
from xml.parsers import expat

from knowledge.errors import UnsafeDocument

_CHUNK = 16 * 1024


class _DoctypeError(Exception):
    """The part declares a document type (raised from the expat handler)."""


class _RootStartedError(Exception):
    """The root element started: no declaration can follow (raised from the handler)."""


def check_part_names(members: Sequence[zipfile.ZipInfo], *, name: str) -> None:
    """Refuse parts named to land outside the folder the file is unpacked into."""
    for member in members:
        path = member.filename.replace("\\", "/")
        drive = len(path) > 1 and path[1] == ":"
        if path.startswith("/") or drive or ".." in path.split("/"):
            raise UnsafeDocument(
                name,
                f"its part {member.filename!r} is named to escape the folder it is unpacked "
                "into (a zip-slip name)",
            )


def _declares_doctype(stream: IO[bytes]) -> bool:
    """Whether the XML in `stream` has a DOCTYPE; reads only up to its root element."""
    parser = expat.ParserCreate()

    def doctype(*_: object) -> None:
        raise _DoctypeError

    def root(*_: object) -> None:
        raise _RootStartedError

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = root
    try:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _DoctypeError:
        return True
    except (_RootStartedError, expat.ExpatError):
        return False  # not XML (a picture) or a broken part: the format's reader says so
    return False


def check_xml_parts(archive: zipfile.ZipFile, *, name: str) -> None:
    """Refuse a package any of whose parts declares a document type (entities, DTDs).

    Every part is tried, whatever its name (a package may declare any part name as XML);
    pictures and other binary parts fail expat's first bytes and cost nothing more.
    """
    for member in archive.infolist():
        if member.is_dir():
            continue
        with archive.open(member) as stream:
            if _declares_doctype(stream):
                raise UnsafeDocument(
                    name,
                    f"its part {member.filename!r} declares XML entities or a document type "
                    "(used to read the server's files or to exhaust its memory)",
                )
