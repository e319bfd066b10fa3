"""OCR: text from pictures of pages (scans, photos), offline, with RapidOCR on ONNX Runtime.

The detection, direction and recognition models ship inside the `rapidocr` wheel; they are
loaded from there by path, so nothing is ever downloaded. The engine is made once per
process (a parse worker) on first use: importing this module costs nothing.

Each page's text is rebuilt line by line from the boxes the engine finds, in reading order,
and comes with the engine's mean confidence (weighted by characters). A page below
`LOW_CONFIDENCE` is flagged, so a citation can say the text may be misread.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from knowledge.documents import LOW_CONFIDENCE, OCR_CONFIDENCE, SCANNED
from knowledge.errors import ParserUnavailable

logger = logging.getLogger(__name__)

LOW_CONFIDENCE_BELOW = 0.9
"""Mean recognition confidence under which a page's text is flagged as possibly misread."""

MAX_SIDE = 2000
"""Longest side, in pixels, an image is scaled to before recognition (about 200 DPI for A4)."""

_MIN_SIDE = 736

_MODELS = {
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
    "Cls.model_path": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
_engine: Any = None
_engine_lock = threading.Lock()

PageHook = Callable[[], None]
_page_hook: contextvars.ContextVar[PageHook | None] = contextvars.ContextVar(
    "cadre_ocr_page_hook", default=None
)


@dataclass(frozen=True, slots=True)
class OcrPage:
    """The text recognised on one picture of a page."""

    text: str
    confidence: float
    """Mean recognition confidence, 0 to 1, weighted by characters (0 when no text)."""

    @property
    def meta(self) -> dict[str, str]:
        """The `Section.meta` that marks this text as scanned (and maybe low-confidence)."""
        meta = {SCANNED: "1", OCR_CONFIDENCE: f"{self.confidence:.2f}"}
        if self.confidence < LOW_CONFIDENCE_BELOW:
            meta[LOW_CONFIDENCE] = "1"
        return meta


@contextlib.contextmanager
def on_each_page(hook: PageHook) -> Iterator[None]:
    """Call `hook()` before each page is recognised (the sandbox extends its deadline)."""
    token = _page_hook.set(hook)
    try:
        yield
    finally:
        _page_hook.reset(token)


_OUT_OF_MEMORY = re.compile(r"failed to map segment|cannot allocate memory", re.IGNORECASE)
"""What the dynamic loader says (ENOMEM) when a shared library does not fit the address space."""


def _models_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).parent / "models"


def _load() -> Any:
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:
                if _OUT_OF_MEMORY.search(str(exc)):
                    # The loader could not map OpenCV's library under the worker's memory cap:
                    # the file needs more memory than allowed, nothing is missing.
                    raise MemoryError(str(exc)) from exc
                raise ParserUnavailable(None, "the OCR package rapidocr is not installed") from exc
            models = _models_dir()
            params: dict[str, Any] = {name: str(models / file) for name, file in _MODELS.items()}
            missing = [path for path in params.values() if not Path(path).is_file()]
            if missing:
                raise ParserUnavailable(None, f"the OCR model {missing[0]} is missing")
            params.update(
                {
                    "Global.log_level": "error",
                    "Global.max_side_len": MAX_SIDE,
                    # Text boxes are found on a copy at most this big (the text itself is read
                    # from the full picture): same error rate on A4 scans down to 8-point text,
                    # 40% faster and ~230 MB less memory than the default (shortest side 736).
                    "Det.limit_type": "max",
                    "Det.limit_side_len": 1280,
                    # One thread: the parse workers run beside the chat model, whose
                    # threads collapse when another process keeps a core busy.
                    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
            )
            _engine = RapidOCR(params=params)
        return _engine


def _lines(boxes: Any, texts: tuple[str, ...], scores: tuple[float, ...]) -> list[str]:
    """Join the engine's text boxes into lines in reading order (top to bottom, left to right)."""
    items = []
    for box, text, score in zip(boxes, texts, scores, strict=False):
        ys = [float(point[1]) for point in box]
        xs = [float(point[0]) for point in box]
        items.append((min(ys), max(ys), min(xs), text.strip(), score))
    items.sort(key=lambda item: (item[0], item[2]))
    lines: list[list[tuple[float, str]]] = []
    bottom = top = 0.0
    for y0, y1, x0, text, _ in items:
        middle = (y0 + y1) / 2
        if lines and top <= middle <= bottom:
            lines[-1].append((x0, text))  # same line: its middle lies within the last one
        else:
            lines.append([(x0, text)])
            top, bottom = y0, y1
    return [" ".join(text for _, text in sorted(line) if text) for line in lines]


def prepared(image: Image.Image) -> Image.Image:
    """`image` as RGB at the size recognition reads best (also used by `bench/ocr.py`)."""
    picture = image.convert("RGB")
    if max(picture.size) > MAX_SIDE:
        picture.thumbnail((MAX_SIDE, MAX_SIDE))
    elif min(picture.size) < _MIN_SIDE:
        # A small picture (a cropped photo, a low-resolution fax) reads better enlarged.
        scale = min(_MIN_SIDE / min(picture.size), MAX_SIDE / max(picture.size))
        size = (round(picture.width * scale), round(picture.height * scale))
        picture = picture.resize(size, Image.Resampling.BICUBIC)
    return picture


def recognize(image: Image.Image) -> OcrPage:
    """The text on `image` (any Pillow mode), with the engine's confidence."""
    import numpy as np

    hook = _page_hook.get()
    if hook is not None:
        hook()
    engine = _load()
    result = engine(np.asarray(prepared(image)))
    texts = tuple(result.txts or ())
    scores = tuple(float(score) for score in (result.scores or ()))
    if not texts:
        return OcrPage("", 0.0)
    weights = [max(len(text.strip()), 1) for text in texts]
    confidence = sum(w * s for w, s in zip(weights, scores, strict=False)) / sum(weights)
    text = "\n".join(line for line in _lines(result.boxes, texts, scores) if line)
    return OcrPage(text, confidence)
