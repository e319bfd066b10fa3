"""Pictures of text (PNG, JPEG, WebP, TIFF): scans and photos, read with OCR.

Each frame of a multi-page TIFF is a page; a single picture has no page number. Every
section is marked `scanned`, with the recognition confidence.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps, ImageSequence

from knowledge.documents import ParsedDocument, Section
from knowledge.errors import NoExtractableText, ParseResourceLimit
from knowledge.parsing import ocr
from knowledge.parsing._shared import Progress, TextBudget, nonblank
from knowledge.parsing.limits import ParseLimits

MAX_PIXELS = 80_000_000
"""Most pixels in one frame (a 600 DPI A3 scan is ~70 million); more is refused unread."""


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read the text in a picture, frame by frame."""
    budget = TextBudget(name, limits.max_text_chars)
    # Pillow refuses past twice this on open; between one and two times it only warns,
    # so the size is checked again below.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        picture = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ParseResourceLimit(name, f"it has more than {MAX_PIXELS:,} pixels") from exc
    with picture:
        frames = getattr(picture, "n_frames", 1)
        most = min(limits.max_pages, limits.max_ocr_pages)
        if frames > most:
            raise ParseResourceLimit(name, f"it has {frames:,} pages, over the limit of {most:,}")
        if picture.width * picture.height > MAX_PIXELS:
            raise ParseResourceLimit(name, f"it has more than {MAX_PIXELS:,} pixels")
        sections: list[Section] = []
        for index, frame in enumerate(ImageSequence.Iterator(picture)):
            upright = ImageOps.exif_transpose(frame)  # photos taken with the phone turned
            page = ocr.recognize(upright)
            if page.text:
                number = index + 1 if frames > 1 else None
                sections.append(Section(budget.spend(page.text), page=number, meta=page.meta))
            if progress is not None:
                progress(index + 1, frames)
    if not sections:
        raise NoExtractableText(name, picture=True)
    return ParsedDocument(
        name=name,
        kind="image",
        sections=nonblank(sections),
        page_count=frames if frames > 1 else None,
        metadata={"ocr": "1"},
    )
