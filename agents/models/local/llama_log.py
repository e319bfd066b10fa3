"""llama.cpp's own output, sent to Python logging instead of the process's stderr.

llama-cpp-python has two ways to talk, and both are wrong for a server. Quiet
(`verbose=False`) wraps a model load in a context manager that points file descriptors 1
and 2 of the whole process at /dev/null: every other thread's output in that window (access
log lines, warnings, our log handlers) is lost. Verbose prints llama.cpp's load chatter and,
from Python, the model's metadata, cache hits and timings to stderr at every load and
generation. So Cadre loads with `verbose=True` (nothing is redirected), and routes both
sources here: llama.cpp's log callback and the `print` calls of llama-cpp-python's modules
go to the `llama.cpp` logger, at DEBUG unless llama.cpp itself says warning or error.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from types import ModuleType
from typing import Any

log = logging.getLogger("llama.cpp")

_LEVELS = {3: logging.WARNING, 4: logging.ERROR}
"""ggml_log_level in the bundled ggml.h: 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 continues
the previous line (llama-cpp-python's `_logger` still assumes an older order). Everything but
warn and error is chatter (metadata, tensor lists, buffer sizes, timings): DEBUG."""
_CONTINUE = 5

_PRINTING_MODULES = ("llama_cpp.llama", "llama_cpp.llama_cache")
"""llama-cpp-python modules that `print(..., file=sys.stderr)` when verbose."""

_lock = threading.Lock()
_pending: list[str] = []
_pending_level = logging.DEBUG
_callback: Any = None
"""The ctypes callback handed to llama.cpp: kept here so it is never garbage-collected
while llama.cpp holds its address."""


def _on_native_log(level: int, text: bytes | None, _user_data: Any) -> None:
    """Collect llama.cpp's pieces of text and log each completed line once."""
    global _pending_level
    piece = (text or b"").decode("utf-8", errors="replace")
    with _lock:
        if level != _CONTINUE:
            _pending_level = _LEVELS.get(level, logging.DEBUG)
        _pending.append(piece)
        if not piece.endswith("\n"):
            return  # progress dots and the like arrive in pieces
        line = "".join(_pending).rstrip()
        _pending.clear()
        chosen = _pending_level
    if line:
        log.log(chosen, "%s", line)


def _print_to_log(*values: object, sep: str | None = " ", **_: object) -> None:
    """Stands in for `print` inside llama-cpp-python's modules (stderr in all of them)."""
    text = (" " if sep is None else sep).join(str(v) for v in values).rstrip()
    if text:
        log.debug("%s", text)


def import_llama_cpp() -> ModuleType:
    """Import llama-cpp-python with its output routed to logging (once per process).

    Call it instead of `import llama_cpp`, and construct `Llama(..., verbose=True)`: never
    `verbose=False`, whose quiet mode redirects the whole process's stdout and stderr.
    """
    global _callback
    import importlib

    import llama_cpp

    with _lock:
        if _callback is None:
            # Importing llama_cpp installed its own callback, which prints to stderr.
            _callback = llama_cpp.llama_log_callback(_on_native_log)
            llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
            for name in _PRINTING_MODULES:
                # A module-level name comes before the builtin: only these modules' prints
                # change, on every thread, with nothing in sys redirected.
                importlib.import_module(name).print = _print_to_log  # type: ignore[attr-defined]
    return llama_cpp
