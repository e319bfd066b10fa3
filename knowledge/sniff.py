"""Decide what a file is from its bytes; the name is only a hint between kinds of text.

Rules:

- Binary formats are recognised by signature: `%PDF-` near the start, a zip whose members
  are a Word or Excel document, an OLE2 container (an old Office file, or an encrypted
  DOCX/XLSX), a picture (PNG, JPEG, WebP, TIFF: read with OCR), and any other known
  signature (GIF, archives, audio…) is unsupported.
- Anything else is text if a charset can be detected without NUL bytes; between text kinds
  (HTML, Markdown, CSV, source code, plain text) the content decides first and the file
  extension settles what the content leaves open.
- A name that promises a binary document (`.pdf`, `.docx`, `.xlsx`) over different content
  is refused with `MislabeledFile` ("report.pdf is not really a PDF file: its content is an
  HTML page"): a user who uploads a "PDF" expects pages and page citations, and a renamed
  file is a common way to smuggle content past a type check, so it is safer to say so than
  to guess.
"""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path, PurePath
from typing import Final, Literal

import charset_normalizer
import filetype

from knowledge.errors import EmptyDocument, EncryptedDocument, MislabeledFile, UnsupportedFile

Kind = Literal[
    "pdf", "docx", "xlsx", "ods", "image", "email", "html", "markdown", "csv", "code", "text"
]
"""What `sniff` decides; also `ParsedDocument.kind`."""

KINDS: Final[tuple[Kind, ...]] = (
    "pdf", "docx", "xlsx", "ods", "image", "email", "html", "markdown", "csv", "code", "text"
)  # fmt: skip

_PICTURES: Final = frozenset({"image/png", "image/jpeg", "image/webp", "image/tiff"})
"""Pictures read with OCR (scans, photos of pages)."""

HEAD_BYTES: Final = 64 * 1024
"""How much of the file sniffing reads."""

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
# Every property stream of an Outlook message is named "__substg1.0_<tag>" (MS-OXMSG 2.1.3).
_OUTLOOK_PROPERTY = "__substg1.0_".encode("utf-16-le")
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")

_BINARY_EXTENSIONS: Final[dict[str, tuple[Kind, str]]] = {
    ".pdf": ("pdf", "PDF"),
    ".docx": ("docx", "Word (.docx)"),
    ".xlsx": ("xlsx", "Excel (.xlsx)"),
    ".ods": ("ods", "OpenDocument spreadsheet (.ods)"),
}
_MARKDOWN_EXTENSIONS: Final = {".md", ".markdown", ".mdown", ".mkd", ".mdx"}
_HTML_EXTENSIONS: Final = {".html", ".htm", ".xhtml"}
_EMAIL_EXTENSIONS: Final = {".eml"}
# Headers every mail program writes; a text that opens with several of them is a message.
_MAIL_HEADER = re.compile(
    r"^(from|to|cc|date|subject|message-id|mime-version|received|return-path|"
    r"delivered-to|reply-to|in-reply-to|references|content-type|x-[\w-]+):[ \t]",
    re.I,
)
_CSV_EXTENSIONS: Final = {".csv", ".tsv"}
_TEXT_EXTENSIONS: Final = {".txt", ".text", ".log", ".rst", ".org", ".adoc"}
CODE_EXTENSIONS: Final = frozenset(
    {
        ".py", ".pyi", ".ipynb", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".java", ".kt",
        ".kts", ".scala", ".go", ".rs", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs",
        ".m", ".mm", ".swift", ".rb", ".php", ".pl", ".pm", ".lua", ".r", ".jl", ".dart", ".ex",
        ".exs", ".erl", ".hs", ".ml", ".clj", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat",
        ".sql", ".json", ".jsonl", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".xml",
        ".css", ".scss", ".less", ".vue", ".svelte", ".proto", ".graphql", ".tf", ".gradle",
        ".cmake", ".mk", ".dockerfile", ".env",
    }
)  # fmt: skip
_CODE_FILE_NAMES: Final = {"makefile", "dockerfile", "rakefile", "gemfile", "justfile"}
_PICTURE_EXTENSIONS: Final = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"}
READABLE_EXTENSIONS: Final = frozenset(
    {
        *_BINARY_EXTENSIONS, *_PICTURE_EXTENSIONS, *_MARKDOWN_EXTENSIONS, *_HTML_EXTENSIONS,
        *_EMAIL_EXTENSIONS, *_CSV_EXTENSIONS, *_TEXT_EXTENSIONS, *CODE_EXTENSIONS,
    }
)  # fmt: skip
"""Extensions of the files Cadre reads, for file pickers: browsers give some of them no type.
The content, not the name, decides how a file is read."""

_HTML_START = re.compile(
    rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html)\b", re.I | re.S
)
_HTML_TAGS = re.compile(r"<(html|head|body|div|p|h[1-6]|table|ul|ol|span|a|article)\b[^>]*>", re.I)
_MD_SIGNALS: Final = (
    re.compile(r"^#{1,6} \S", re.M),  # ATX heading
    re.compile(r"^\S.*\n(=+|-+)\s*$", re.M),  # setext heading
    re.compile(r"^\s{0,3}[-*+] \S", re.M),  # bullet list
    re.compile(r"^\s{0,3}```", re.M),  # fenced code
    re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),  # link
    re.compile(r"(\*\*|__)\S[^\n]*?\S\1"),  # bold
    re.compile(r"^\s{0,3}> \S", re.M),  # quote
    re.compile(r"^\|.*\|\s*\n\|[\s:|-]+\|\s*$", re.M),  # table
)
_CODE_SIGNALS: Final = (
    re.compile(r"^\s*(def|class) \w+.*:\s*$", re.M),
    re.compile(r"^\s*(import [\w.]+|from [\w.]+ import \w+)", re.M),
    re.compile(r"^\s*#include\s*[<\"]", re.M),
    re.compile(r"^\s*(public|private|protected|static)?\s*(class|interface|enum) \w+.*\{", re.M),
    re.compile(r"^\s*(function\s+\w+\s*\(|const \w+ = |let \w+ = |var \w+ = )", re.M),
    re.compile(r"^\s*(package \w+;?|func \w+\(|fn \w+\()", re.M),
    re.compile(r"[;{}]\s*$", re.M),
)


def _extension(name: str) -> str:
    return PurePath(name).suffix.lower()


def _describe(mime: str) -> str:
    family, _, sub = mime.partition("/")
    if family in {"image", "audio", "video", "font"}:
        return f"{'an' if family == 'image' or family == 'audio' else 'a'} {family} ({sub})"
    return f"a {mime} file"


_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


def _zip_member_head(path: Path, member: str) -> bytes:
    """The first bytes of one archive member (an OpenDocument's `mimetype`)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as file:
            return file.read(128).strip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError):
        return b""


def _zip_kind(path: Path, name: str) -> Kind:
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UnsupportedFile(name, "a damaged zip archive") from exc
    if "word/document.xml" in members:
        return "docx"
    if "xl/workbook.xml" in members:
        return "xlsx"
    if any(member.startswith("ppt/") for member in members):
        raise UnsupportedFile(name, "a PowerPoint presentation; export it as PDF")
    if "mimetype" in members and "content.xml" in members:
        if _zip_member_head(path, "mimetype") == _ODS_MIMETYPE:
            return "ods"
        raise UnsupportedFile(name, "an OpenDocument file; save it as .docx, .xlsx or PDF")
    raise UnsupportedFile(name, "a zip archive; unzip it and upload the files inside")


def _binary_kind(path: Path, name: str, head: bytes) -> Kind | None:
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(_ZIP):
        return _zip_kind(path, name)
    if head.startswith(_OLE2):
        with path.open("rb") as file:
            # The directory of an encrypted OOXML file names this stream; files are small
            # enough (size-capped) to scan, but read in slices to keep memory flat.
            outlook = name.lower().endswith(".msg")
            while block := file.read(1024 * 1024):
                if _ENCRYPTED_PACKAGE in block:
                    raise EncryptedDocument(name)
                outlook = outlook or _OUTLOOK_PROPERTY in block
        if outlook:
            # The one library that reads .msg well (extract-msg) is GPL-licensed; Cadre is not.
            raise UnsupportedFile(
                name,
                "an Outlook message (.msg); in Outlook use File › Save As › HTML, or save "
                "it as .eml from another mail app, and upload that",
            )
        raise UnsupportedFile(
            name, "an old-format Office file (.doc/.xls/.ppt); save it as .docx, .xlsx or PDF"
        )
    guess = filetype.guess(head)
    if guess is not None and str(guess.mime) in _PICTURES:
        return "image"
    if guess is not None:
        raise UnsupportedFile(name, _describe(str(guess.mime)))
    return None


# Legacy encodings charset detection confuses with their neighbours; on a tie, the one
# most files are really in wins. Windows-1252 (what browsers assume for unlabelled Western
# text) gets a wider margin: on short Western texts the detector often prefers a Baltic or
# Central European code page by a little, and decodes "déjà" as "déją".
_PREFERRED: Final = ("ascii", "utf_8", "cp1252", "cp932", "gb18030", "big5", "euc_kr")
_TIE: Final = 0.01
_CP1252_MARGIN: Final = 0.1


def decode_text(data: bytes) -> str | None:
    """`data` decoded by its detected charset, or `None` when it looks binary."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Without a BOM or NUL bytes the text cannot be UTF-16/32, whatever the detector says.
    candidates = [
        match
        for match in charset_normalizer.from_bytes(data)
        if not match.encoding.startswith(("utf_16", "utf_32"))
    ]
    if not candidates:
        return None
    least = min(match.chaos for match in candidates)
    for match in candidates:
        if match.encoding == "cp1252" and match.chaos <= least + _CP1252_MARGIN:
            return str(match)
    close = [match for match in candidates if match.chaos <= least + _TIE]
    close.sort(key=lambda m: _PREFERRED.index(m.encoding) if m.encoding in _PREFERRED else 99)
    return str(close[0])


def _trim_partial(head: bytes) -> bytes:
    """Drop a UTF-8 sequence cut in half by the end of the sniffed head."""
    if len(head) < HEAD_BYTES:
        return head
    for cut in range(4):
        try:
            head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return head[: len(head) - cut]
    return head


def _looks_like_csv(text: str, named: type[csv.Dialect] | None) -> bool:
    """Whether `text` is delimited rows; `named` is the dialect the file's extension names
    (.csv, .tsv), or `None` when only the content can tell."""
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if len(lines) < (2 if named else 3):
        return False
    sample = "\n".join(lines[:-1] if len(lines) > 2 else lines)  # the last may be cut
    try:
        dialect: type[csv.Dialect] = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        if named is None:
            return False
        dialect = named  # the sniffer wants every row as wide: see below
    rows = list(csv.reader(sample.splitlines(), dialect))
    widths = {len(row) for row in rows}
    if len(widths) == 1:
        return min(widths) >= 2
    # Exported tables often leave a row's empty trailing fields out (Debian's distro-info
    # debian.csv: 6 of 8 columns for old releases). Taken as a table only when the extension
    # says so and no row is wider than the header.
    return named is not None and len(rows[0]) >= 2 and all(len(r) <= len(rows[0]) for r in rows)


def _looks_like_mail(text: str) -> bool:
    """Whether the text opens with a header block of at least three mail headers."""
    known = 0
    for line in text.splitlines()[:80]:
        if not line.strip():
            break  # the end of the header block
        if line[0] in " \t":
            continue  # a folded header's continuation
        if not _MAIL_HEADER.match(line):
            return False
        known += 1
    return known >= 3


def _text_kind(text: str, head: bytes, name: str) -> Kind:
    ext = _extension(name)
    if _looks_like_mail(text) or (ext in _EMAIL_EXTENSIONS and _MAIL_HEADER.match(text)):
        return "email"
    if _HTML_START.match(head.lstrip(b"\xef\xbb\xbf")):
        return "html"
    if ext in _HTML_EXTENSIONS and _HTML_TAGS.search(text):
        return "html"
    if ext in _MARKDOWN_EXTENSIONS:
        return "markdown"
    if ext in _CSV_EXTENSIONS and _looks_like_csv(
        text, csv.excel_tab if ext == ".tsv" else csv.excel
    ):
        return "csv"
    if ext in CODE_EXTENSIONS or PurePath(name).name.lower() in _CODE_FILE_NAMES:
        return "code"
    if ext in _TEXT_EXTENSIONS:
        return "text"
    # No telling extension: only strong evidence moves text away from plain text.
    if text.startswith("#!"):
        return "code"
    if len(_HTML_TAGS.findall(text[:4096])) >= 3:
        return "html"
    if sum(1 for signal in _MD_SIGNALS if signal.search(text)) >= 2:
        return "markdown"
    if _looks_like_csv(text, None):
        return "csv"
    if sum(1 for signal in _CODE_SIGNALS if signal.search(text)) >= 2:
        return "code"
    return "text"


_NAMES: Final[dict[Kind, str]] = {
    "pdf": "a PDF document",
    "docx": "a Word document",
    "xlsx": "an Excel workbook",
    "ods": "an OpenDocument spreadsheet",
    "image": "a picture",
    "email": "an e-mail message",
    "html": "an HTML page",
    "markdown": "Markdown text",
    "csv": "CSV data",
    "code": "source code",
    "text": "plain text",
}


def sniff(path: Path, *, name: str) -> Kind:
    """The kind of document in `path`, from its content; raises `KnowledgeError` if none.

    Args:
        path: The file to inspect; only its first `HEAD_BYTES` are read (and a zip's
            directory, or an OLE2 file's bytes, to tell what is inside).
        name: The user's file name: a hint between text kinds, and checked against the
            content for `.pdf`/`.docx`/`.xlsx`.
    """
    with path.open("rb") as file:
        head = file.read(HEAD_BYTES)
    if not head:
        raise EmptyDocument(name)
    kind = _binary_kind(path, name, head)
    if kind is None:
        text = decode_text(_trim_partial(head))
        if text is None:
            raise UnsupportedFile(name, "binary data that is not a known document format")
        kind = _text_kind(text, head, name)
    claimed = _BINARY_EXTENSIONS.get(_extension(name))
    if claimed is not None and claimed[0] != kind:
        raise MislabeledFile(name, claimed[1], _NAMES[kind])
    return kind
