"""Scans and photos of text made by the tests: rendered at a real resolution, then degraded.

A page is drawn with Pillow's bundled font at 200 DPI (12-point text is ~33 px high), turned
by a degree or so, speckled with sensor noise and softened, as a flatbed scan or a phone
photo of a sheet comes out. `character_error_rate` scores what OCR read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DPI = 200
INVOICE = (
    "INVOICE 2024-117",
    "Harbour Logistics Ltd, 14 Quay Street, Bristol",
    "Meter reading on 12 March 2024: 48213 kWh",
    "Service period: January to March 2024",
    "Total due: EUR 1,284.50 by 30 April 2024",
)
WHITEBOARD = (
    "Sprint 14 retro",
    "Deploy freeze starts Friday 17:00",
    "Owner of the billing migration: Priya",
)


def render_page(
    lines: Sequence[str],
    *,
    width_in: float = 8.27,
    height_in: float = 4.0,
    point_size: float = 13,
    angle: float = 1.2,
    noise: float = 14.0,
    blur: float = 0.7,
    seed: int = 0,
) -> Image.Image:
    """A grey-scale picture of `lines` as a scanner at `DPI` would make it."""
    size = (round(width_in * DPI), round(height_in * DPI))
    page = Image.new("L", size, 250)
    font = ImageFont.load_default(size=point_size * DPI / 72)
    draw = ImageDraw.Draw(page)
    line_height = point_size * DPI / 72 * 1.8
    for number, line in enumerate(lines):
        draw.text((0.8 * DPI, 0.6 * DPI + number * line_height), line, fill=25, font=font)
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=250)
    rng = np.random.default_rng(seed)
    pixels = np.asarray(page, dtype=np.float32) + rng.normal(0, noise, page.size[::-1])
    speckled = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return speckled.filter(ImageFilter.GaussianBlur(blur))


def photo_of(lines: Sequence[str], *, seed: int = 1) -> Image.Image:
    """A colour phone photo of a sheet: warm light, uneven shading, more tilt and noise."""
    gray = render_page(lines, angle=-2.5, noise=18.0, blur=1.0, seed=seed, point_size=16)
    shade = np.linspace(0.8, 1.0, gray.width, dtype=np.float32)[None, :]
    base = np.asarray(gray, dtype=np.float32) * shade
    rgb = np.stack([base * 1.0, base * 0.95, base * 0.85], axis=-1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def save_image(picture: Image.Image, path: Path) -> Path:
    """Save in the format the suffix names (.png, .jpg, .webp, .tif)."""
    options: dict[str, object] = {"dpi": (DPI, DPI)}
    if path.suffix in (".jpg", ".jpeg", ".webp"):
        options["quality"] = 80
    if path.suffix in (".tif", ".tiff"):
        options["compression"] = "tiff_lzw"
    picture.save(path, **options)
    return path


def save_tiff_pages(pages: Sequence[Image.Image], path: Path) -> Path:
    """A multi-page TIFF, as a document feeder scans a stack."""
    first, *rest = pages
    first.save(path, save_all=True, append_images=rest, compression="tiff_lzw", dpi=(DPI, DPI))
    return path


def image_only_pdf(pages: Sequence[Image.Image], path: Path) -> Path:
    """A PDF whose pages are pictures only, with no text layer (what a scanner writes)."""
    first, *rest = [page.convert("RGB") for page in pages]
    first.save(path, save_all=True, append_images=rest, resolution=DPI)
    return path


def mixed_pdf(path: Path, typed: str, scan: Image.Image) -> Path:
    """Page 1 typed (a text layer), page 2 a scanned picture, page 3 typed again."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 7, text=typed)
    pdf.add_page()
    pdf.image(scan.convert("RGB"), x=0, y=0, w=210)
    pdf.add_page()
    pdf.multi_cell(0, 7, text="Appendix: the typed terms continue on this page.")
    pdf.output(str(path))
    return path


def _distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, start=1):
        current = [i]
        for j, right in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right))
            )
        previous = current
    return previous[-1]


def normalise(text: str) -> str:
    """Whitespace collapsed: line breaks and spacing are layout, not characters read."""
    return " ".join(text.split())


def character_error_rate(expected: str, read: str) -> float:
    """Edits (insertions, deletions, substitutions) per expected character."""
    truth = normalise(expected)
    return _distance(truth, normalise(read)) / max(len(truth), 1)
