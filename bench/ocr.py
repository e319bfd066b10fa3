"""OCR accuracy and speed on generated scans: character error rate per format and condition.

Scans are rendered by `tests/knowledge/scans.py` (200 DPI, ~1° tilt, sensor noise, blur),
saved in each picture format and as an image-only PDF, and read through `parse_file`
exactly as an upload is. The baseline in the same run is what Cadre read from these files
before OCR: nothing (every one failed with "no extractable text" or "not a file type").

    .venv/bin/python bench/ocr.py
"""

from __future__ import annotations

import sys
import tempfile
import time
import types
from pathlib import Path

from PIL import Image

_tests = types.ModuleType("tests")  # a site-packages `tests` package shadows ours
_tests.__path__ = [str(Path(__file__).resolve().parents[1] / "tests")]
sys.modules["tests"] = _tests

from knowledge.parsing import parse_file  # noqa: E402
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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cases = _cases(Path(tmp))
        parse_file(cases[-1][1])  # load the models once, outside the timings
        print("| scan | characters | CER | confidence | low-confidence flag | s/page |")
        print("|---|---|---|---|---|---|")
        errors = characters = 0.0
        for label, path, truth in cases:
            started = time.perf_counter()
            document = parse_file(path)
            elapsed = time.perf_counter() - started
            text = "\n".join(section.text for section in document.sections)
            cer = scans.character_error_rate(truth, text)
            meta = document.sections[0].meta
            size = len(scans.normalise(truth))
            errors += cer * size
            characters += size
            print(
                f"| {label} | {size} | {cer:.4f} | {meta['ocr_confidence']} | "
                f"{'yes' if meta.get('low_confidence') else 'no'} | {elapsed:.2f} |"
            )
        print(f"\nOverall CER {errors / characters:.4f} over {int(characters)} characters.")


if __name__ == "__main__":
    main()
