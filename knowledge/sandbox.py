"""Parse untrusted files in worker processes, so a hostile file can only kill a worker.

Each worker is a fresh interpreter (the `spawn` start method: nothing of the server's
threads, event loop or model weights is inherited) that parses one file at a time. Per file:

- the size is checked in the server process before anything is read or sent;
- the worker caps its own address space (`RLIMIT_AS`, baseline + `limits.memory_bytes`, or
  `limits.ocr_memory_bytes` once it reads a page with OCR) for the duration of the parse, so
  a decompression or allocation bomb ends in `MemoryError`;
- the server waits at most `limits.timeout_s` (plus `limits.ocr_page_timeout_s` for each page
  the worker reads with OCR), then kills that worker and starts another;
- a worker that dies (a segfault in a C parser, the kernel's OOM killer) fails only the file
  it was reading; the others keep their workers.

Workers are reused between files (and retired after `max_jobs_per_worker`), so the start-up
cost is paid once per worker, not once per file.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from knowledge.documents import ParsedDocument
from knowledge.errors import (
    CorruptDocument,
    KnowledgeError,
    ParseResourceLimit,
    ParserUnavailable,
    ParseTimeout,
)
from knowledge.parsing import ParseLimits, Progress, check_file, ocr, parse_file

try:
    import resource
except ImportError:  # Windows: no rlimits; time and crash isolation still apply
    resource = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

Parser = Callable[..., ParsedDocument]
"""`parser(path, *, name, limits, progress)`; a module-level function (it is pickled)."""

_START_TIMEOUT_S = 60.0
_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class _Job:
    path: str
    name: str
    limits: ParseLimits
    progress: bool


# ---------------------------------------------------------------- worker side


def _address_space() -> int | None:
    """This process's current virtual memory size in bytes (Linux), else `None`."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def _memory_cap(extra: int) -> Iterator[Callable[[int], None]]:
    """Limit the address space to what is mapped now plus `extra` bytes, then restore it.

    Yields a function that raises the cap to the baseline plus a larger `extra` (OCR).
    """
    baseline = _address_space()
    if resource is None or baseline is None:
        yield lambda _extra: None
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)

    def cap_at(allowed: int) -> None:
        cap = baseline + allowed
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))

    cap_at(extra)
    try:
        yield lambda allowed: cap_at(max(allowed, extra))
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _run(conn: Connection, job: _Job, parser: Parser) -> tuple[str, Any, bool]:
    """Parse one file; the reply is (`ok`|`error`, payload, whether to retire the worker)."""

    def progress(done: int, total: int) -> None:
        conn.send(("progress", done, total))

    try:
        with _memory_cap(job.limits.memory_bytes) as raise_cap:

            def ocr_page() -> None:
                raise_cap(job.limits.ocr_memory_bytes)  # the OCR models get their allowance
                conn.send(("ocr",))  # and the server gives the file more time per such page

            with ocr.on_each_page(ocr_page):
                document = parser(
                    Path(job.path),
                    name=job.name,
                    limits=job.limits,
                    progress=progress if job.progress else None,
                )
    except KnowledgeError as error:
        # After a memory failure the heap may be fragmented or half-freed: start afresh.
        return ("error", error, isinstance(error.__cause__, MemoryError))
    except MemoryError:
        return ("error", ParseResourceLimit(job.name, "it needs more memory than allowed"), True)
    except Exception:
        logger.exception("The parse worker failed on %s", job.name)
        return ("error", CorruptDocument(job.name, "a document"), True)
    return ("ok", document, False)


def _worker_main(conn: Connection, parser: Parser) -> None:
    """Entry point of a worker process: parse jobs until told to stop or orphaned."""
    # Ctrl-C in a terminal reaches the whole process group; the server decides for us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="[parse worker] %(message)s")
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return  # the server went away
        if job is None:
            return
        reply = _run(conn, job, parser)
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
        if reply[2]:
            return


# ---------------------------------------------------------------- server side


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self, context: Any, parser: Parser, name: str | None) -> None:
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_worker_main, args=(child, parser), daemon=True, name="cadre-parse-worker"
        )
        self.jobs = 0
        self.process.start()
        child.close()  # so that the worker's death reads as end-of-file here
        try:
            ready = self.conn.poll(_START_TIMEOUT_S) and self.conn.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise ParserUnavailable(name, f"the worker exited with code {self.process.exitcode}")

    def alive(self) -> bool:
        return self.process.is_alive() and not self.conn.closed

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(timeout=2)
        self.kill()

    def death(self, name: str) -> KnowledgeError:
        """What to tell the user about the file this worker died reading."""
        self.process.join(timeout=5)
        code = self.process.exitcode
        self.kill()
        if code == -signal.SIGKILL:
            return ParseResourceLimit(name, "the reader was stopped for using too much memory")
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else code
        logger.warning("The parse worker died reading %s (%s)", name, how)
        return CorruptDocument(name, "a document", "it crashed the reader")

    def send(self, job: _Job) -> None:
        self.jobs += 1
        self.conn.send(job)

    def wait(
        self,
        job: _Job,
        progress: Progress | None,
        cancel: threading.Event | None,
    ) -> tuple[str, Any, bool]:
        deadline = time.monotonic() + job.limits.timeout_s
        allowed = job.limits.timeout_s
        while True:
            if cancel is not None and cancel.is_set():
                raise concurrent.futures.CancelledError()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ParseTimeout(job.name, allowed)
            wait = min(remaining, _POLL_S) if cancel is not None else remaining
            if not self.conn.poll(wait):
                continue
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                raise self.death(job.name) from None
            if message[0] == "ocr":
                # Recognising a page takes seconds; the worker counts and caps the pages.
                deadline += job.limits.ocr_page_timeout_s
                allowed += job.limits.ocr_page_timeout_s
                continue
            if message[0] != "progress":
                return message  # type: ignore[no-any-return]
            if progress is not None:
                progress(message[1], message[2])


class ParseSandbox:
    """A small pool of parse workers with per-file time, memory and size limits.

    Thread-safe: up to `workers` files are parsed at once, further calls wait for a free
    worker. Use it as a context manager, or call `close()` at shutdown.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        max_jobs_per_worker: int = 200,
        start_method: str = "spawn",
        parser: Parser = parse_file,
    ) -> None:
        """Create the pool; workers start on first use (or on `warm()`).

        Args:
            workers: Files parsed at the same time.
            max_jobs_per_worker: Files one worker parses before it is replaced, which
                bounds what a slow leak in a parser library can accumulate.
            start_method: `spawn` (default, portable and inherits nothing) or `forkserver`.
            parser: What a worker runs; `parse_file` unless a test injects faults.
        """
        if workers < 1:
            raise ValueError("ParseSandbox needs at least one worker")
        self._context = multiprocessing.get_context(start_method)
        self._parser = parser
        self._max_jobs = max_jobs_per_worker
        self._slots = threading.BoundedSemaphore(workers)
        self._workers = workers
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> ParseSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warm(self) -> None:
        """Start every worker now rather than on the first file."""
        with self._lock:
            missing = self._workers - len(self._idle)
        for _ in range(missing):
            self._release(_Worker(self._context, self._parser, None))

    def parse(
        self,
        path: Path | str,
        *,
        name: str | None = None,
        limits: ParseLimits | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> ParsedDocument:
        """Parse `path` in a worker. Blocking; see `parse_async` for the event loop.

        Args:
            path: The uploaded file, readable by the worker.
            name: The user's file name (messages, type hints); defaults to the file's name.
            limits: Size, time and memory ceilings; defaults to `ParseLimits()`.
            progress: Called in this thread as `progress(done, total)` (PDF pages).
            cancel: When set, the parse is abandoned (its worker killed) and
                `concurrent.futures.CancelledError` is raised.

        Raises:
            KnowledgeError: the file's problem, as a sentence for the user.
        """
        path = Path(path)
        name = name or path.name
        limits = limits or ParseLimits()
        check_file(path, name=name, limits=limits)  # before a single byte is read
        job = _Job(str(path.resolve()), name, limits, progress is not None)
        with self._slots:
            worker = self._acquire(name)
            try:
                worker.send(job)
            except OSError:
                # It died while idle (nothing to do with this file): use a fresh one.
                worker.kill()
                worker = _Worker(self._context, self._parser, name)
                worker.send(job)
            try:
                status, payload, retire = worker.wait(job, progress, cancel)
            except BaseException:
                worker.kill()  # mid-parse after a timeout, a cancel or a death: no reuse
                raise
            if retire:
                worker.process.join(timeout=5)
                worker.kill()
            else:
                self._release(worker)
        if status == "ok":
            assert isinstance(payload, ParsedDocument)
            return payload
        assert isinstance(payload, KnowledgeError)
        raise payload

    async def parse_async(
        self,
        path: Path | str,
        *,
        name: str | None = None,
        limits: ParseLimits | None = None,
        progress: Progress | None = None,
    ) -> ParsedDocument:
        """`parse` off the event loop; `progress` is called on the loop; cancelling kills it."""
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        on_loop: Progress | None = None
        if progress is not None:
            callback = progress

            def on_loop(done: int, total: int) -> None:
                loop.call_soon_threadsafe(callback, done, total)

        try:
            return await asyncio.to_thread(
                self.parse, path, name=name, limits=limits, progress=on_loop, cancel=cancel
            )
        except asyncio.CancelledError:
            cancel.set()
            raise

    def close(self) -> None:
        """Stop the idle workers; busy ones stop when their file is done."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def _acquire(self, name: str | None) -> _Worker:
        with self._lock:
            if self._closed:
                raise ParserUnavailable(name, "the reader is shut down")
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        return _Worker(self._context, self._parser, name)

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if (
                not self._closed
                and worker.alive()
                and worker.jobs < self._max_jobs
                and len(self._idle) < self._workers
            ):
                self._idle.append(worker)
                return
        worker.stop()


_default: ParseSandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> ParseSandbox:
    """The process-wide sandbox used by `parse_in_sandbox` (closed at interpreter exit)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ParseSandbox()
            atexit.register(_default.close)
        return _default


def parse_in_sandbox(
    path: Path | str,
    *,
    name: str | None = None,
    limits: ParseLimits | None = None,
    progress: Progress | None = None,
) -> ParsedDocument:
    """Parse one file in the default sandbox (blocking)."""
    return default_sandbox().parse(path, name=name, limits=limits, progress=progress)


async def parse_in_sandbox_async(
    path: Path | str,
    *,
    name: str | None = None,
    limits: ParseLimits | None = None,
    progress: Progress | None = None,
) -> ParsedDocument:
    """Parse one file in the default sandbox without blocking the event loop."""
    return await default_sandbox().parse_async(path, name=name, limits=limits, progress=progress)
