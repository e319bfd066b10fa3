"""OCR accuracy and speed on generated scans: character error rate per format and condition.

Scans are rendered by `tests/knowledge/scans.py` (200 DPI, ~1° tilt, sensor noise, blur),
saved in each picture format and as an image-only PDF, and read through `parse_file`
exactly as an upload is. The baseline in the same run is what Cadre read from these files
before OCR: nothing (every one failed with "no extractable text" or "not a file type").

`--tesseract` also reads every page with the Tesseract command line (Debian's `tesseract-ocr`
+ `tesseract-ocr-eng`, one thread, default page segmentation) in the same run: the same
files through `parse_file`, so the same rendering and picture preparation, with Tesseract in
place of RapidOCR. Its confidence is the per-word confidence weighted by characters, as
RapidOCR's is. It answers whether Cadre should use Tesseract where it is installed.

    .venv/bin/python bench/ocr.py [--tesseract]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

_tests = types.ModuleType("tests")  # a site-packages `tests` package shadows ours
_tests.__path__ = [str(Path(__file__).resolve().parents[1] / "tests")]
sys.modules["tests"] = _tests

from knowledge.parsing import ocr, parse_file  # noqa: E402
from tests.knowledge import scans  # noqa: E402

LETTER = (
    "Dear Ms Shah,",
    "Further to our call on 4 March, we confirm the renewal of the fleet",
    "insurance policy HF-2291 from 1 April 2024 for twelve months.",
    "The annual premium is EUR 18,420.00, payable in four instalments.",
    "Claims must be reported within 14 days to claims@harbour.example.",
    "Yours sincerely, Marta Oliveira, Account Manager",
)


def _cases(folder: Path) -> list[tuple[str, Path, str]]:
    a4 = dict(height_in=11.69, point_size=11)
    page = scans.render_page(LETTER, **a4)  # type: ignore[arg-type]
    fax = page.resize((page.width // 3, page.height // 3), Image.Resampling.BILINEAR)
    smudge = page.resize((page.width // 8, page.height // 8), Image.Resampling.BILINEAR)
    invoice = scans.render_page(scans.INVOICE)
    truth_letter, truth_invoice = "\n".join(LETTER), "\n".join(scans.INVOICE)
    return [
        ("A4 letter, PNG 200 DPI", scans.save_image(page, folder / "letter.png"), truth_letter),
        ("A4 letter, JPEG q80", scans.save_image(page, folder / "letter.jpg"), truth_letter),
        ("A4 letter, WebP q80", scans.save_image(page, folder / "letter.webp"), truth_letter),
        ("A4 letter, TIFF LZW", scans.save_image(page, folder / "letter.tif"), truth_letter),
        ("A4 letter, image-only PDF", scans.image_only_pdf([page], folder / "l.pdf"), truth_letter),
        ("A4 letter, fax ~67 DPI", scans.save_image(fax, folder / "fax.png"), truth_letter),
        ("A4 letter, ~25 DPI thumbnail", scans.save_image(smudge, folder / "s.png"), truth_letter),
        ("invoice strip, PNG", scans.save_image(invoice, folder / "inv.png"), truth_invoice),
        (
            "whiteboard photo, JPEG",
            scans.save_image(scans.photo_of(scans.WHITEBOARD), folder / "board.jpg"),
            "\n".join(scans.WHITEBOARD),
        ),
    ]


def tesseract_recognize(image: Image.Image) -> ocr.OcrPage:
    """Tesseract in place of `ocr.recognize`: same preparation, lines and weighted confidence."""
    png = io.BytesIO()
    ocr.prepared(image).save(png, "PNG")
    command = ["tesseract", "-", "-", "-l", "eng", "tsv"]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    tsv = subprocess.run(
        command, input=png.getvalue(), capture_output=True, env=env, timeout=60, check=True
    ).stdout.decode()
    lines: dict[tuple[int, ...], list[str]] = {}
    weighted = characters = 0.0
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5" or not fields[11].strip():
            continue  # level 5 rows are words; the others are pages, blocks and lines
        lines.setdefault(tuple(int(f) for f in fields[1:5]), []).append(fields[11])
        characters += len(fields[11])
        weighted += len(fields[11]) * float(fields[10]) / 100
    text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
    return ocr.OcrPage(text, weighted / characters if characters else 0.0)


@contextmanager
def engine(recognize: Callable[[Image.Image], ocr.OcrPage] | None) -> Iterator[None]:
    """Parse with `recognize` in place of RapidOCR (None: RapidOCR, as the product does)."""
    original = ocr.recognize
    if recognize is not None:
        ocr.recognize = recognize  # type: ignore[assignment]
    try:
        yield
    finally:
        ocr.recognize = original


def read(path: Path) -> tuple[str, Mapping[str, str], float]:
    started = time.perf_counter()
    document = parse_file(path)
    elapsed = time.perf_counter() - started
    return "\n".join(s.text for s in document.sections), document.sections[0].meta, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tesseract", action="store_true", help="also read with Tesseract")
    args = parser.parse_args()
    engines: list[tuple[str, Callable[[Image.Image], ocr.OcrPage] | None]] = [("RapidOCR", None)]
    if args.tesseract:
        if shutil.which("tesseract") is None:
            sys.exit("--tesseract: no tesseract binary (apt-get install tesseract-ocr)")
        version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True)
        print(version.stdout.splitlines()[0])
        engines.append(("Tesseract", tesseract_recognize))
    with tempfile.TemporaryDirectory() as tmp:
        cases = _cases(Path(tmp))
        for _, recognize in engines:
            with engine(recognize):
                read(cases[-1][1])  # load the models once, outside the timings
        print("| scan | characters | engine | CER | confidence | low-confidence flag | s/page |")
        print("|---|---|---|---|---|---|---|")
        errors = dict.fromkeys([name for name, _ in engines], 0.0)
        seconds = dict.fromkeys(errors, 0.0)
        characters = 0
        for label, path, truth in cases:
            size = len(scans.normalise(truth))
            characters += size
            for name, recognize in engines:  # the engines take turns page by page
                with engine(recognize):
                    text, meta, elapsed = read(path)
                cer = scans.character_error_rate(truth, text)
                errors[name] += cer * size
                seconds[name] += elapsed
                print(
                    f"| {label} | {size} | {name} | {cer:.4f} | {meta['ocr_confidence']} | "
                    f"{'yes' if meta.get('low_confidence') else 'no'} | {elapsed:.2f} |"
                )
        print()
        for name in errors:
            print(
                f"{name}: overall CER {errors[name] / characters:.4f} over {characters} "
                f"characters, {seconds[name] / len(cases):.2f} s/page on average."
            )


if __name__ == "__main__":
    main()
