"""Leases on ingestions, so several processes can share one catalog and one store.

Every ingestion has an id, which its staged chunks carry; while it runs, its catalog record
names that id, the process running it (`process_name()`) and until when the claim holds. The
process renews the claim every `LeaseOptions.renew_s` while the file is parsed, embedded and
committed. A process that dies stops renewing; once `lease_s` has passed, any other process
settles the record (failed as interrupted, or ready when the store had committed the whole
document before the stop) and removes that ingestion's staged chunks. A starting process
therefore never touches the work of another live one.

A process knows its own ingestions exactly: a record held by this process whose ingestion no
longer runs here (its failure could not be recorded even after retrying, see
`IngestOptions.record_failure_s`, or an earlier `KnowledgeBase` of this process stopped) is
settled at once, lease or not; so is one held by a process of the same machine
(and PID namespace) that no longer exists, as after a crash and restart of a single server.

An ingestion whose claim was lost (another process settled it after a stall longer than the
lease, or a new upload of the same file elsewhere took the record over) stops before its
commit and writes nothing more to the record.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import secrets
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from knowledge.catalog import DocumentCatalog, DocumentRecord
from knowledge.errors import KnowledgeError

_log = logging.getLogger(__name__)

_RUNNING: set[str] = set()
"""Ids of the ingestions running in this process, whichever pipeline runs them."""
_process: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class LeaseOptions:
    """How long an ingestion's claim lasts unrenewed, and how often it is renewed."""

    lease_s: float = 60.0
    """After a crash, the interrupted files are settled this long after the last renewal."""
    renew_s: float = 15.0
    """How often a process renews its claims and looks for interrupted ingestions to settle."""

    def __post_init__(self) -> None:
        if not 0 < self.renew_s < self.lease_s:
            raise ValueError("LeaseOptions: renew_s must be positive and shorter than lease_s")


def process_name() -> str:
    """This process, as records name their holder: host, PID namespace, pid and a random part
    (new per start)."""
    global _process
    pid = os.getpid()
    if _process is None or _process[0] != pid:  # a forked child is another process
        name = f"{_host()}:{_pid_namespace()}:{pid}:{secrets.token_hex(4)}"
        _process = (pid, name)
    return _process[1]


def _host() -> str:
    return socket.gethostname()[:64].replace(":", "-")


def _pid_namespace() -> str:
    """Which processes a pid means here (containers on one host each have their own)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "unknown"


def _gone(holder: str) -> bool:
    """Whether `holder` names a process of this machine and PID namespace that has ended.

    A process killed and restarted on the same machine (the usual single-server case) then
    settles its predecessor's files at once instead of a lease later. Anything uncertain (a
    holder elsewhere, a pid now used by another process) counts as alive: the lease decides.
    """
    host, namespace, pid, _ = ([*holder.split(":"), "", "", ""])[:4]
    if host != _host() or namespace != _pid_namespace() or namespace == "unknown":
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, OverflowError):
        return False
    return False


def new_ingestion_id() -> str:
    """A fresh ingestion id."""
    return uuid.uuid4().hex


def is_live(record: DocumentRecord, now: float) -> bool:
    """Whether an ingestion may still be working on the waiting `record`."""
    if record.lease_holder is not None and record.lease_holder == process_name():
        return record.ingestion_id in _RUNNING
    if record.lease_holder is not None and _gone(record.lease_holder):
        return False
    return record.lease_until is not None and record.lease_until >= now


def expired_before(record: DocumentRecord, now: float) -> float | None:
    """The bound to settle a record that `is_live` found dead: `now` when its lease decided,
    `None` (whatever its lease says) when its holder is known to have stopped: this process,
    or an ended process of this machine."""
    holder = record.lease_holder
    if holder is not None and (holder == process_name() or _gone(holder)):
        return None
    return now


class LeaseLostError(KnowledgeError):
    """Another process took over (or settled) the record while this ingestion ran."""

    code = "taken_over"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} was not stored by this upload: another upload of the same file is being "
            "read (here or on another server), or this one stalled so long that it was given "
            "up as interrupted. See the document list; uploading it again is safe.",
            name=name,
        )


Sweep = Callable[[], Awaitable[object]]
"""Settles the records of interrupted ingestions (`KnowledgeBase.recover`)."""


class Leases:
    """The claims of one pipeline's running ingestions, renewed in the background.

    The background task runs while ingestions are held, and for as long as `keep_sweeping`
    asked (a `KnowledgeBase` opened at start-up sweeps until `close()`).
    """

    def __init__(self, catalog: DocumentCatalog, options: LeaseOptions | None = None) -> None:
        self.catalog = catalog
        self.options = options or LeaseOptions()
        self._held: set[str] = set()
        self._lost: set[str] = set()
        self._sweep: Sweep | None = None
        self._task: asyncio.Task[None] | None = None

    def claim(self, ingestion_id: str) -> dict[str, object]:
        """The record fields that name a claim on `ingestion_id`, made now; call `hold` once
        the record is written."""
        _RUNNING.add(ingestion_id)
        return {
            "ingestion_id": ingestion_id,
            "lease_holder": process_name(),
            "lease_until": self.until(),
        }

    def hold(self, ingestion_id: str) -> None:
        """Keep renewing the claim on `ingestion_id` (its record is written) until `release`."""
        _RUNNING.add(ingestion_id)
        self._held.add(ingestion_id)
        self._start()

    def release(self, ingestion_id: str) -> None:
        """Stop holding `ingestion_id` (its record is finished, or never will be by us)."""
        _RUNNING.discard(ingestion_id)
        self._held.discard(ingestion_id)
        self._lost.discard(ingestion_id)

    def lost(self, ingestion_id: str) -> bool:
        """Whether a renewal found the claim gone (see the module docstring)."""
        return ingestion_id in self._lost

    def until(self) -> float:
        """The end of a claim made or renewed now."""
        return time.time() + self.options.lease_s

    async def confirm(self, ingestion_id: str) -> bool:
        """Renew this one claim now; whether it is still held (checked before a commit)."""
        if ingestion_id in self._lost:
            return False
        if ingestion_id in await self.catalog.renew([ingestion_id], self.until()):
            return True
        self._lost.add(ingestion_id)
        return False

    def keep_sweeping(self, sweep: Sweep) -> None:
        """Run `sweep` at every renewal until `close()`, held ingestions or not."""
        self._sweep = sweep
        self._start()

    async def close(self) -> None:
        """Stop renewing and sweeping (a running ingestion's claim then runs out)."""
        self._sweep = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            # A fresh context: the loop outlives the request that happened to start it.
            self._task = asyncio.get_running_loop().create_task(
                self._keep(), name="cadre-ingestion-leases", context=contextvars.Context()
            )

    async def _keep(self) -> None:
        while self._held or self._sweep is not None:
            await asyncio.sleep(self.options.renew_s)
            try:
                await self._renew()
                if self._sweep is not None:
                    await self._sweep()
            except Exception:  # a dead renewal would let other processes settle our files
                _log.exception("could not renew ingestion leases; trying again")

    async def _renew(self) -> None:
        ids = sorted(self._held - self._lost)
        if not ids:
            return
        held = await self.catalog.renew(ids, self.until())
        for ingestion_id in ids:
            if ingestion_id not in held and ingestion_id in self._held:
                _log.warning(
                    "ingestion %s lost its lease; it stops before committing", ingestion_id
                )
                self._lost.add(ingestion_id)
