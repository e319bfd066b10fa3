"""One Cadre server under many simultaneous chats: every token checked, latency, loop lag, memory.

Usage:  .venv/bin/python bench/load.py [--sessions 100] [--tokens 100] [--rounds 3] [--quick]
                                       [--with-local-model smollm2]

A real `cadre serve` (uvicorn, Chainlit's socket.io) runs the Chief of Staff on a scripted
model: a stand-in for OpenAI in its own process that streams `--tokens` numbered tokens
derived from the question (the one `bench/api.py` uses), so every answer is checkable.
`--sessions` chats each log in (`POST /login`, all as the admin), open a socket as the web
UI does and wait for their chat to start; then all send one message at the same moment,
`--rounds` times. Each session must receive exactly its own tokens, once each, in order:
lost, duplicated and reordered tokens are counted. Latency runs from the send to the turn's
end (`task_end`, when the composer unlocks); time to first token to the answer's first
streamed piece.

Event-loop lag is measured from outside the server, as a proxy: a separate process asks
`GET /healthz` (a handler that does no work) every 10 ms on one keep-alive connection and
records how long each answer took. A loop busy elsewhere answers late, so the tail of these
times is the lag a user's socket events see (plus the probe's own round trip, the idle
floor). The same process reads the server's resident memory (RSS) every 50 ms; the peak is
the highest reading of the whole run.

Phases, each a window of those samples: idle (the server up, nobody working); the burst of
sessions; and, with `--with-local-model NAME`, a member's chat on the bundled local model
(llama.cpp) generating answer after answer while another chat of theirs ingests a fresh
document after another — first alone, then with a second burst of sessions on top.

Baseline, in the same run: a raw python-socketio ASGI server under uvicorn, with the same
`/healthz`, that answers each message with the same tokens as separate events, then an end
event; the same number of clients connect and send at the same moment. Each Cadre figure is
printed next to the baseline's as a ratio. Clients, the probe and both servers share this
machine's cores, so absolute figures depend on the machine; the ratios less so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from api import _import_repo_tests, expected_tokens, pct, question, scripted_upstream

ROOT = Path(__file__).resolve().parents[1]
PROBE_INTERVAL_S = 0.010
RSS_EVERY = 5
"""The probe reads RSS every this many health samples (50 ms)."""
SOCKET_PATH = "/ws/socket.io"
MEMBER = ("loadtester", "load-tester-password-1")
LOCAL_PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
CONNECTS_AT_ONCE = 10
"""Sessions logging in and connecting at the same time (the chat start is not measured)."""


# -- the processes this bench starts -------------------------------------------------------


def serve_echo(port: int, tokens: int) -> None:
    """The baseline: python-socketio under uvicorn streaming `tokens` events per message."""
    import socketio
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.on("client_message")  # type: ignore[untyped-decorator]
    async def client_message(sid: str, data: dict[str, int]) -> None:
        for token in expected_tokens(data["client"], data["round"], tokens):
            await sio.emit("stream_token", {"token": token}, to=sid)
        await sio.emit("task_end", {}, to=sid)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    health = Starlette(routes=[Route("/healthz", healthz)])
    app = socketio.ASGIApp(sio, other_asgi_app=health, socketio_path=SOCKET_PATH)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve_upstream(port: int, tokens: int) -> None:
    """The scripted model in a process of its own, so it does not share the clients' core."""
    import uvicorn

    app = scripted_upstream(tokens, 0.0)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]


def _rss_bytes(pid: int) -> int:
    try:
        import psutil
    except ImportError:
        status = Path(f"/proc/{pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(kib) * 1024
    return int(psutil.Process(pid).memory_info().rss)


def probe(url: str, pid: int, out: Path) -> None:
    """Ask `url` every 10 ms until SIGTERM; one line per sample: time, ms, RSS bytes or -1."""
    import httpx

    stop = False

    def finish(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, finish)
    with httpx.Client(timeout=30) as http, out.open("w", buffering=1) as lines:
        tick = time.monotonic()
        count = 0
        while not stop:
            started = time.monotonic()
            http.get(url).raise_for_status()
            took_ms = (time.monotonic() - started) * 1000
            rss = _rss_bytes(pid) if count % RSS_EVERY == 0 else -1
            lines.write(f"{started:.4f} {took_ms:.3f} {rss}\n")
            count += 1
            tick += PROBE_INTERVAL_S
            now = time.monotonic()
            if tick < now:  # late (the probe itself was descheduled): do not catch up in a burst
                tick = now
            time.sleep(tick - now)


def _spawn(log: Path, *args: str) -> subprocess.Popen[bytes]:
    from tests.support.env import subprocess_env

    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def _process(log: Path, *args: str, ready_url: str | None = None) -> Iterator[int]:
    """Run this script in another mode until the block ends; yields its pid."""
    import httpx

    process = _spawn(log, *args)
    try:
        deadline = time.monotonic() + 30
        while ready_url:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]} did not start:\n{log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(ready_url, timeout=2).status_code in (200, 404, 405):
                    break
            time.sleep(0.1)
        yield process.pid
    finally:
        _stop(process)


# -- what a client sees ----------------------------------------------------------------------


@dataclass
class Tally:
    """How one answer differed from the tokens it should have been."""

    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    extra: int = 0

    @property
    def intact(self) -> bool:
        return not (self.lost or self.duplicated or self.reordered or self.extra)


def tally(received: str, wanted: list[str]) -> Tally:
    """Compare the streamed text with the expected tokens, token by token."""
    got = received.split()
    expected = [w.strip() for w in wanted]
    counts, expected_set = Counter(got), set(expected)
    position = {token: i for i, token in enumerate(expected)}
    firsts = [position[t] for t in dict.fromkeys(got) if t in position]
    return Tally(
        lost=sum(1 for t in expected if t not in counts),
        duplicated=sum(n - 1 for t, n in counts.items() if t in expected_set and n > 1),
        reordered=sum(1 for a, b in itertools.pairwise(firsts) if b < a),
        extra=sum(n for t, n in counts.items() if t not in expected_set),
    )


@dataclass
class Sample:
    """One turn as its client saw it."""

    total_s: float
    first_s: float
    tally: Tally
    problem: str = ""


class Session(Protocol):
    async def open(self) -> None: ...
    async def turn(self, round_: int) -> Sample: ...
    async def close(self) -> None: ...


@dataclass
class EchoSession:
    """A client of the baseline server."""

    url: str
    index: int
    tokens: int
    pieces: list[str] = field(default_factory=list)

    async def open(self) -> None:
        import socketio

        self.sio = socketio.AsyncClient(reconnection=False)
        self.first = 0.0
        self.done = asyncio.Event()
        self.ended = 0.0

        async def token(data: dict[str, str]) -> None:
            if not self.pieces:
                self.first = time.monotonic()
            self.pieces.append(data["token"])

        async def task_end(_: object = None) -> None:
            self.ended = time.monotonic()
            self.done.set()

        self.sio.on("stream_token", token)
        self.sio.on("task_end", task_end)
        await self.sio.connect(
            self.url, socketio_path=SOCKET_PATH, transports=["websocket"], wait_timeout=30
        )

    async def turn(self, round_: int) -> Sample:
        self.pieces.clear()
        self.done.clear()
        sent = time.monotonic()
        await self.sio.emit("client_message", {"client": self.index, "round": round_})
        try:
            await asyncio.wait_for(self.done.wait(), 600)
        except TimeoutError:
            return Sample(0, 0, Tally(lost=self.tokens), "no end within 600 s")
        wanted = expected_tokens(self.index, round_, self.tokens)
        return Sample(self.ended - sent, self.first - sent, tally("".join(self.pieces), wanted))

    async def close(self) -> None:
        await self.sio.disconnect()


@dataclass
class CadreSession:
    """A signed-in chat tab: logs in, opens the socket, waits for the chat to start."""

    url: str
    index: int
    tokens: int
    credentials: tuple[str, str] | None = None

    async def open(self) -> None:
        from tests.support.chainlit_client import ChainlitClient, login

        cookie = await login(self.url, *self.credentials) if self.credentials else None
        self.chat = ChainlitClient(self.url, cookie=cookie)
        await self.chat.connect()

    async def turn(self, round_: int) -> Sample:
        from tests.support.chainlit_client import tokens_of

        sent = time.monotonic()
        try:
            events = await self.chat.ask(question(self.index, round_), timeout=600)
        except (TimeoutError, RuntimeError) as exc:
            return Sample(0, 0, Tally(lost=self.tokens), repr(exc))
        answers = [
            step["id"]
            for step in self.chat.messages(events).values()
            if step.get("type") == "assistant_message" and step.get("name") == "Chief of Staff"
        ]
        answer = answers[-1] if answers else ""
        streamed = [
            e
            for e in events
            if e.name in ("stream_start", "stream_token") and e.data.get("id") == answer
        ]
        first = streamed[0].at - sent if streamed else events[-1].at - sent
        wanted = expected_tokens(self.index, round_, self.tokens)
        received = "".join(p for p in tokens_of(events, answer) if p)
        return Sample(events[-1].at - sent, first, tally(received, wanted))

    async def close(self) -> None:
        await self.chat.close()


async def open_all(sessions: list[Any]) -> None:
    """Log in and connect every session, a few at a time (chat starts are not measured)."""
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)

    async def one(session: Session) -> None:
        async with gate:
            await session.open()

    await asyncio.gather(*(one(s) for s in sessions))


# -- phases and the probe's samples ----------------------------------------------------------


@dataclass
class Run:
    """What one server did: its phases (name -> window) and bursts (name -> samples)."""

    name: str
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    bursts: dict[str, list[Sample]] = field(default_factory=dict)
    walls: dict[str, float] = field(default_factory=dict)
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lags(self, phase: str) -> list[float]:
        start, end = self.windows[phase]
        return [ms for at, ms, _ in self.samples if start <= at <= end]

    def rss(self, phase: str) -> list[int]:
        start, end = self.windows[phase]
        return [rss for at, _, rss in self.samples if start <= at <= end and rss >= 0]


@contextlib.contextmanager
def window(run: Run, phase: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        run.windows[phase] = (start, time.monotonic())


async def burst(run: Run, phase: str, sessions: list[Any], rounds: range) -> None:
    """Every session sends at the same moment, once per round (the next round when the last
    turn of the previous one has ended); the phase lasts until the last turn ends."""
    with window(run, phase):
        started = time.monotonic()
        for round_ in rounds:
            done = await asyncio.gather(*(s.turn(round_) for s in sessions))
            run.bursts.setdefault(phase, []).extend(done)
        run.walls[phase] = time.monotonic() - started


def read_samples(path: Path) -> list[tuple[float, float, int]]:
    rows = []
    for line in path.read_text().splitlines():
        at, ms, rss = line.split()
        rows.append((float(at), float(ms), int(rss)))
    return rows


# -- the two servers -------------------------------------------------------------------------


async def measure_baseline(args: argparse.Namespace, work: Path) -> Run:
    from tests.support.server import free_port

    run = Run("baseline")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    samples = work / "baseline-probe.txt"
    with _process(
        work / "echo.log",
        "--serve-echo",
        str(port),
        "--tokens",
        str(args.tokens),
        ready_url=f"{url}/healthz",
    ) as pid:
        sessions = [EchoSession(url, i, args.tokens) for i in range(1, args.sessions + 1)]
        warm = EchoSession(url, 0, args.tokens)
        await warm.open()
        await warm.turn(0)
        await warm.close()
        with _process(
            work / "probe-echo.log",
            "--probe",
            f"{url}/healthz",
            "--pid",
            str(pid),
            "--out",
            str(samples),
        ):
            await asyncio.sleep(1)
            with window(run, "idle"):
                await asyncio.sleep(args.idle_s)
            await open_all(sessions)
            await asyncio.sleep(1)
            await burst(run, "sessions", sessions, range(1, args.rounds + 1))
            await asyncio.gather(*(s.close() for s in sessions))
    run.samples = read_samples(samples)
    return run


_PROSE_WORDS = (
    "harbour ledger invoice turbine contract shipment audit forecast pump vessel",
    "reviewed delayed approved measured replaced shipped signed inspected",
    "Alvarez Brennan Chen Dubois Eriksen Fofana Gupta Haddad Ito Jensen",
)


def ingest_document(seed: int, words: int) -> str:
    """Plain prose to ingest, different for every `seed` (so nothing is deduplicated)."""
    rng = random.Random(seed)
    nouns, verbs, people = (line.split() for line in _PROSE_WORDS)
    paragraphs, count = [f"# Operations log {seed}"], 0
    while count < words:
        sentences = [
            f"{rng.choice(people)} {rng.choice(verbs)} the {rng.choice(nouns)} "
            f"number {rng.randint(100, 99999)} on day {rng.randint(1, 365)} "
            f"at a cost of {rng.randint(1, 900)}.{rng.randint(10, 99)} thousand."
            for _ in range(6)
        ]
        paragraphs.append(" ".join(sentences))
        count += sum(len(s.split()) for s in sentences)
    return "\n\n".join(paragraphs) + "\n"


@dataclass
class Background:
    """A member's local-model chat and ingesting chat, each repeating until told to stop."""

    url: str
    model: str
    work: Path
    words: int
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    generated: list[float] = field(default_factory=list)
    ingested: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def _chat(self) -> Any:
        from tests.support.chainlit_client import ChainlitClient, login

        chat = ChainlitClient(self.url, cookie=await login(self.url, *MEMBER))
        await chat.connect()
        return chat

    async def _pick(self, chat: Any) -> None:
        # Waits for the server's acknowledgement: a message sent right after a plain emit
        # was once answered by the deployment's model (the pick not applied yet).
        await chat.sio.call("chat_settings_change", {"model": f"local:{self.model}"}, timeout=30)

    async def warm_up(self) -> None:
        """Load the local model (assembled and converted on its first use) before measuring."""
        chat = await self._chat()
        await self._pick(chat)
        events = await chat.ask("Say hello.", timeout=1800)
        await chat.close()
        runs = [e.data.get("output", "") for e in events if e.name == "update_message"]
        if not any(f"local:{self.model}" in str(output) for output in runs):
            raise SystemExit(f"local:{self.model} did not answer: {chat.answers(events)}")

    async def generate(self) -> None:
        chat = await self._chat()
        await self._pick(chat)
        while not self.stop.is_set():
            started = time.monotonic()
            events = await chat.ask(LOCAL_PROMPT, timeout=1800)
            self.generated.append(time.monotonic() - started)
            if not chat.answers(events):
                self.problems.append("a local-model turn showed no answer")
        await chat.close()

    async def ingest(self) -> None:
        chat = await self._chat()
        round_ = 0
        while not self.stop.is_set():
            round_ += 1
            path = self.work / f"operations-{round_}.txt"
            path.write_text(ingest_document(round_, self.words))
            started = time.monotonic()
            file_id = await chat.upload(path, "text/plain")
            events = await chat.ask_with_files("What does the log say?", [file_id], timeout=1800)
            self.ingested.append(time.monotonic() - started)
            if not chat.answers(events):
                self.problems.append("an ingesting turn showed no answer")
        await chat.close()


async def measure_cadre(args: argparse.Namespace, work: Path) -> Run:
    from tests.support.cli import add_user
    from tests.support.server import cadre_server, free_port

    run = Run("cadre")
    port = free_port()
    upstream = f"http://127.0.0.1:{port}"
    samples = work / "cadre-probe.txt"
    env = {
        "CADRE_OPENAI_BASE_URL": f"{upstream}/v1",
        "CADRE_CHAT_MODEL": "openai:bench",
        # Every chat logs in as the admin: the per-person limit would refuse most of them.
        "CADRE_USER_MESSAGES_PER_MINUTE": "0",
    }
    if args.with_local_model:
        env["CADRE_MAX_NEW_TOKENS"] = str(args.local_tokens)
    with (
        _process(
            work / "upstream.log",
            "--serve-upstream",
            str(port),
            "--tokens",
            str(args.tokens),
            ready_url=f"{upstream}/v1/chat/completions",
        ),
        cadre_server(work / "cadre", **env) as server,
    ):
        background = None
        if args.with_local_model:
            add_user(work / "cadre", *MEMBER)
            background = Background(server.url, args.with_local_model, work, args.ingest_words)
        warm = CadreSession(server.url, 0, args.tokens)
        await warm.open()
        await warm.turn(0)
        await warm.close()
        sessions = [CadreSession(server.url, i, args.tokens) for i in range(1, args.sessions + 1)]
        pid = server.process.pid
        with _process(
            work / "probe-cadre.log",
            "--probe",
            f"{server.url}/healthz",
            "--pid",
            str(pid),
            "--out",
            str(samples),
        ):
            await asyncio.sleep(1)
            with window(run, "idle"):
                await asyncio.sleep(args.idle_s)
            if background is not None:
                await background.warm_up()
                await asyncio.sleep(1)
                with window(run, "idle, local model loaded"):
                    await asyncio.sleep(args.idle_s)
            await open_all(sessions)
            await asyncio.sleep(1)
            with window(run, "sessions open, idle"):
                await asyncio.sleep(args.idle_s)
            await burst(run, "sessions", sessions, range(1, args.rounds + 1))
            if background is not None:
                await asyncio.sleep(1)
                await local_phases(args, run, background, sessions)
            await asyncio.gather(*(s.close() for s in sessions))
    run.samples = read_samples(samples)
    return run


async def local_phases(
    args: argparse.Namespace, run: Run, background: Background, sessions: list[Any]
) -> None:
    """Local generation and ingestion alone, then with a burst on top; both keep running."""
    workers = [asyncio.create_task(background.generate()), asyncio.create_task(background.ingest())]
    await asyncio.sleep(3)  # both under way: the model generating, the first file parsing
    with window(run, "local model + ingestion"):
        await asyncio.sleep(args.idle_s * 2)
    await burst(
        run,
        "local model + ingestion + sessions",
        sessions,
        range(args.rounds + 1, 2 * args.rounds + 1),
    )
    background.stop.set()
    await asyncio.gather(*workers)
    run.notes.append(
        f"local:{background.model}: {len(background.generated)} answers "
        f"(median {statistics.median(background.generated):.1f} s each); "
        f"{len(background.ingested)} documents of ~{args.ingest_words} words ingested "
        f"(median {statistics.median(background.ingested):.1f} s each, with the answer)"
    )
    run.notes.extend(background.problems)


# -- the report ------------------------------------------------------------------------------


def _mb(values: list[int], how: Callable[[list[int]], float]) -> float:
    return how(values) / 2**20 if values else float("nan")


def report(args: argparse.Namespace, runs: list[Run]) -> None:
    baseline, cadre = runs
    print()
    print(
        f"{args.sessions} sessions at once, {args.rounds} rounds per phase, "
        f"{args.tokens} tokens per answer\n"
    )
    print(
        "| server | phase | turns | intact | lost | duplicated | reordered | extra | "
        "p50 latency s | p95 latency s | p50 first token s | p95 first token s | turns/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        for phase, samples in run.bursts.items():
            done = [s for s in samples if not s.problem]
            totals, firsts = [s.total_s for s in done], [s.first_s for s in done]
            t = [s.tally for s in samples]
            print(
                f"| {run.name} | {phase} | {len(samples)} | "
                f"{sum(x.intact for x in t)}/{len(samples)} | {sum(x.lost for x in t)} | "
                f"{sum(x.duplicated for x in t)} | {sum(x.reordered for x in t)} | "
                f"{sum(x.extra for x in t)} | {pct(totals, 0.5):.3f} | {pct(totals, 0.95):.3f} | "
                f"{pct(firsts, 0.5):.3f} | {pct(firsts, 0.95):.3f} | "
                f"{len(samples) / run.walls[phase]:.1f} |"
            )
            for sample in samples:
                if sample.problem:
                    print(f"  ! {run.name} {phase}: {sample.problem}")
    print()
    print("Event-loop lag proxy: `GET /healthz` answer time, sampled every 10 ms\n")
    print("| server | phase | samples | p50 ms | p99 ms | max ms | RSS median MB | RSS max MB |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        for phase in run.windows:
            lags, rss = run.lags(phase), run.rss(phase)
            print(
                f"| {run.name} | {phase} | {len(lags)} | {pct(lags, 0.5):.1f} | "
                f"{pct(lags, 0.99):.1f} | {max(lags, default=float('nan')):.1f} | "
                f"{_mb(rss, statistics.median):.0f} | {_mb(rss, max):.0f} |"
            )
    print()
    print("| figure | baseline | cadre | cadre / baseline |")
    print("|---|---|---|---|")

    def row(label: str, base: float, ours: float, unit: str) -> None:
        print(f"| {label} | {base:.3f} {unit} | {ours:.3f} {unit} | {ours / base:.1f} |")

    def burst_pct(run: Run, q: float, first: bool) -> float:
        done = [s for s in run.bursts["sessions"] if not s.problem]
        return pct([s.first_s if first else s.total_s for s in done], q)

    row("p50 latency", burst_pct(baseline, 0.5, False), burst_pct(cadre, 0.5, False), "s")
    row("p95 latency", burst_pct(baseline, 0.95, False), burst_pct(cadre, 0.95, False), "s")
    row("p50 first token", burst_pct(baseline, 0.5, True), burst_pct(cadre, 0.5, True), "s")
    row("p95 first token", burst_pct(baseline, 0.95, True), burst_pct(cadre, 0.95, True), "s")
    idle_base = pct(baseline.lags("idle"), 0.99)
    load_base = pct(baseline.lags("sessions"), 0.99)
    row("lag p99, idle", idle_base, pct(cadre.lags("idle"), 0.99), "ms")
    row("lag p99, sessions", load_base, pct(cadre.lags("sessions"), 0.99), "ms")
    for phase in ("local model + ingestion", "local model + ingestion + sessions"):
        if phase in cadre.windows:
            row(f"lag p99, {phase} (vs sessions)", load_base, pct(cadre.lags(phase), 0.99), "ms")
    row(
        "RSS idle",
        _mb(baseline.rss("idle"), statistics.median),
        _mb(cadre.rss("idle"), statistics.median),
        "MB",
    )
    peak_base = _mb([rss for _, _, rss in baseline.samples], max)
    row("RSS peak", peak_base, _mb([rss for _, _, rss in cadre.samples], max), "MB")
    for note in cadre.notes:
        print(f"\n- {note}")


async def run(args: argparse.Namespace) -> None:
    _import_repo_tests()
    work = Path(tempfile.mkdtemp(prefix="cadre-bench-load-"))
    print(f"work dir {work}", flush=True)
    baseline = await measure_baseline(args, work)
    print("baseline measured", flush=True)
    cadre = await measure_cadre(args, work)
    report(args, [baseline, cadre])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="bursts per phase")
    parser.add_argument("--idle-s", type=float, default=10.0, help="length of the idle phases")
    parser.add_argument(
        "--quick", action="store_true", help="20 sessions, 1 round, 3 s idle phases"
    )
    parser.add_argument(
        "--with-local-model",
        metavar="NAME",
        help="also run a bundled model (smollm2, qwen2.5-0.5b, qwen2.5-1.5b) and an ingestion",
    )
    parser.add_argument("--local-tokens", type=int, default=256, help="its answers' length cap")
    parser.add_argument("--ingest-words", type=int, default=6000, help="words per document")
    # Modes for the processes the bench starts.
    parser.add_argument("--serve-echo", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo(args.serve_echo, args.tokens)
    elif args.serve_upstream:
        serve_upstream(args.serve_upstream, args.tokens)
    elif args.probe:
        probe(args.probe, args.pid, args.out)
    else:
        if args.quick:
            args.sessions, args.idle_s, args.rounds = 20, 3.0, 1
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
