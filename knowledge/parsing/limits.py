"""How much a parser may read, unpack, allocate and spend before a file is refused."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from knowledge.errors import CorruptDocument, ParseResourceLimit
from knowledge.parsing.package_safety import check_part_names, check_xml_parts

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Ceilings applied to every parse; the sandbox enforces time and memory."""

    max_file_bytes: int = 50 * _MIB
    """Largest file accepted, checked from its size before a byte is read."""
    timeout_s: float = 60.0
    """Wall-clock time one file may take in the sandbox worker."""
    memory_bytes: int = 1024 * _MIB
    """Address space the worker may add while parsing one file (RLIMIT_AS above its baseline)."""
    max_pages: int = 2_000
    """Most PDF pages read; a longer PDF is refused before any page is parsed."""
    max_unpacked_bytes: int = 256 * _MIB
    """Total uncompressed size of a DOCX/XLSX (zip) archive's members."""
    max_compression_ratio: float = 100.0
    """Highest uncompressed/compressed ratio of one archive member (zip-bomb guard)."""
    max_archive_members: int = 10_000
    """Most members in a DOCX/XLSX archive."""
    max_text_chars: int = 20_000_000
    """Most characters of text a document may produce (about 5 million tokens)."""
    max_ocr_pages: int = 500
    """Most pages (scanned PDF pages, picture frames) read with OCR in one file."""
    ocr_memory_bytes: int = 2048 * _MIB
    """Address space the worker may add once it starts OCR (the models and a page's feature
    maps need ~600 MB resident, more in address space); replaces `memory_bytes` then."""
    ocr_page_timeout_s: float = 30.0
    """Time added to `timeout_s` for each page read with OCR (a page takes 1-5 s)."""

    def __post_init__(self) -> None:
        for field in (
            "max_file_bytes", "memory_bytes", "ocr_memory_bytes", "max_pages", "max_unpacked_bytes"
        ):  # fmt: skip
            if getattr(self, field) <= 0:
                raise ValueError(f"ParseLimits.{field} must be positive")
        if self.timeout_s <= 0 or self.ocr_page_timeout_s < 0 or self.max_ocr_pages < 0:
            raise ValueError("ParseLimits time limits and max_ocr_pages must be positive")
        if self.max_compression_ratio < 1:
            raise ValueError("ParseLimits.max_compression_ratio must be at least 1")


# Members this small cannot hurt whatever their ratio; a run of zeros compresses ~1000:1.
_SMALL_MEMBER = _MIB


def check_archive(path: Path, *, name: str, kind: str, limits: ParseLimits) -> None:
    """Refuse a zip-based document whose declared contents would unpack to too much data.

    Reads the central directory first. The sizes it declares are what the zip module
    enforces while inflating (it stops at a member's declared size), so checking them
    bounds what the parser can unpack. Then part names and XML prologs are checked
    (`package_safety`).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_sizes(members, name=name, limits=limits)
            check_part_names(members, name=name)
            check_xml_parts(archive, name=name)  # inflates parts: after the size checks
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CorruptDocument(name, kind, "its zip container is broken") from exc


def _check_sizes(members: list[zipfile.ZipInfo], *, name: str, limits: ParseLimits) -> None:
    if len(members) > limits.max_archive_members:
        raise ParseResourceLimit(
            name,
            f"it holds {len(members):,} parts, over the limit of {limits.max_archive_members:,}",
        )
    total = 0
    for member in members:
        total += member.file_size
        if total > limits.max_unpacked_bytes:
            raise ParseResourceLimit(
                name,
                f"it unpacks to more than {limits.max_unpacked_bytes / _MIB:.0f} MB "
                "(it may be a zip bomb)",
            )
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _SMALL_MEMBER and ratio > limits.max_compression_ratio:
            raise ParseResourceLimit(
                name,
                f"its part {member.filename!r} is compressed {ratio:,.0f} to 1, "
                f"over the limit of {limits.max_compression_ratio:g} to 1 (it may be a zip bomb)",
            )
