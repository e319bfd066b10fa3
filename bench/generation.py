"""Generation speed of a bundled model: raw runtimes vs Cadre's provider vs the served chat.

Usage:  .venv/bin/python bench/generation.py [--model NAME] [--runs N] [--quick]
        [--runtimes llama_cpp,...]

`--model` is a bundled model's name: `qwen2.5-1.5b` (the default model), `qwen2.5-0.5b` or
`smollm2`. For each runtime (llama.cpp, and for SmolLM2 also transformers on the CPU; the
Qwen files are Q4_K_M GGUFs that transformers would dequantize to float32) it measures the
same request three ways:

- raw: the runtime called directly (`llama_cpp.Llama.create_completion`, or
  `model.generate` in transformers) on the same weights file and thread counts Cadre uses;
- provider: Cadre's `LocalModel.stream` (queue, worker thread, context fitting, events);
- served: a real `cadre serve` subprocess, asked through a socket.io client that speaks
  Chainlit's protocol like the browser does (TTFT from `send` to the first streamed token,
  decode rate from the arrival times of `stream_token` events).

The prompt is the chat's system prompt plus ~1,500 tokens of `bench/heldout.txt` and an
instruction that makes the model write on past the token limit. Decoding is greedy with
Cadre's repeat penalty and a fixed number of new tokens (raw llama.cpp also biases EOS away).
Raw and provider get the identical prompt, so they must write the identical text (checked);
the served chat goes through the Chief of Staff, which answers with its own instructions or
hands the request to an operator (Qwen: the Researcher), so its prompt and text differ, and
the server's prompt cache may already hold part of its prompt. A per-round nonce at the
start of the request defeats llama.cpp's prefix cache for raw and provider. Ways run
interleaved in a rotating order; figures are medians over `--runs` rounds, ratios medians of
per-round ratios.

TTFT: request start to the first text piece. Prompt tok/s: prompt tokens / TTFT. Decode
tok/s: (new tokens - 1) / (last piece - first piece), tokens counted by re-tokenizing the
text. CPU ms/token: CPU time of the processes involved (served: server + socket.io client)
between the first and last piece, per token; unlike wall time it barely moves when other
work shares the machine (with one thread: llama.cpp's threads spin while they wait).
Event loop ms/token: the part of it spent on the event loop's thread (provider: hand-off and
events; served: that plus the Chief of Staff, rendering and Chainlit's socket emits).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import time
import types
from collections.abc import Awaitable, Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.models.base import ChatMessage, ModelOptions, TextChunk
from agents.models.local import (
    BUNDLED_MODELS,
    LocalModel,
    LocalModelConfig,
    model_file,
    quantized_gguf,
)
from agents.models.local.llama_cpp_runtime import thread_counts
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = Path(__file__).resolve().parent / "heldout.txt"
INSTRUCTIONS = {
    # Unlike "summarise", this makes SmolLM2 write on past the token limit.
    "smollm2": "Rewrite the text above in your own words, paragraph by paragraph.",
}
"""The request's last line, per model: one that makes it write past the token limit."""
# Asked to rewrite 1,000 tokens of the held-out text, Qwen2.5-Coder answers "I'm sorry, but
# I can't assist with that request."; asked to summarise, it writes on.
DEFAULT_INSTRUCTION = "Summarise the text above paragraph by paragraph, in full sentences."
RUNTIMES = ("llama_cpp", "transformers")
TRANSFORMERS_MODELS = ("smollm2",)
"""Models the transformers way runs by default (small enough to convert to float32)."""


Stamp = tuple[float, float, float, str]
"""When a piece arrived (wall clock), CPU seconds used by then (all threads, and the event
loop's thread alone), and the piece."""


@dataclass(frozen=True)
class Sample:
    """One measured generation."""

    ttft: float
    decode_s: float
    cpu_decode_s: float
    """CPU time the generating (and, when served, the receiving) processes spent decoding."""
    text: str
    prompt_tokens: int | None = None
    """Known when the way's prompt differs from the raw one (the served Chief of Staff)."""
    author: str = ""
    """Who streamed the text in the served chat (Chief of Staff, or an operator's step)."""
    loop_s: float = 0.0
    """CPU time of the event loop's thread while decoding (provider and served)."""
    cpu_client_s: float = 0.0
    """The part of `cpu_decode_s` spent in the socket.io client (served only)."""


@dataclass
class Way:
    """One way of running the request, measured by `measure(user_text) -> Sample`."""

    runtime: str
    name: str
    measure: Callable[[str], Awaitable[Sample]]
    samples: list[Sample]


def _stamp(text: str, *, on_loop: bool = True) -> Stamp:
    # Raw ways run on the main thread without an event loop: no loop share to report.
    return time.perf_counter(), time.process_time(), time.thread_time() if on_loop else 0.0, text


def _chat(args: argparse.Namespace, user_text: str) -> Any:
    return [
        {"role": "system", "content": args.system_prompt},
        {"role": "user", "content": user_text},
    ]


def _sample(start: float, stamps: list[Stamp], **extra: Any) -> Sample:
    stamps = [s for s in stamps if s[3]]
    if not stamps:
        raise RuntimeError("the model produced no text")
    (first, cpu0, loop0, _), (last, cpu1, loop1, _) = stamps[0], stamps[-1]
    text = "".join(s[3] for s in stamps)
    return Sample(first - start, last - first, cpu1 - cpu0, text, loop_s=loop1 - loop0, **extra)


def _cpu_of(pid: int, thread: int | None = None) -> float:
    """CPU seconds process `pid` (or only its thread `thread`) has used, from /proc."""
    stat = Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RawLlama:
    """llama-cpp-python called directly, on the GGUF file and thread counts Cadre uses."""

    def __init__(
        self, gguf: Path, threads: tuple[int, int], context: int, args: argparse.Namespace
    ) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = Llama(
            model_path=str(gguf),
            n_ctx=context,
            n_threads=threads[0],
            n_threads_batch=threads[1],
            verbose=False,
        )
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=self.llm.metadata["tokenizer.chat_template"],
            eos_token=self.llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=self.llm._model.token_get_text(bos) if bos != -1 else "",
        )
        self.args = args

    def prompt(self, user_text: str) -> list[int]:
        """The templated prompt's tokens, as Cadre's runtime builds them."""
        formatted = self.formatter(messages=_chat(self.args, user_text))
        return self.llm.tokenize(
            formatted.prompt.encode(), add_bos=not formatted.added_special, special=True
        )

    def count(self, text: str) -> int:
        """Tokens in `text`."""
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=False))

    async def measure(self, user_text: str) -> Sample:
        """Stream a completion with EOS biased away; blocking, like any direct call."""
        start = time.perf_counter()
        chunks: Any = self.llm.create_completion(
            self.prompt(user_text),
            max_tokens=self.args.tokens,
            temperature=0.0,
            repeat_penalty=self.args.repeat_penalty,
            logit_bias={self.llm.token_eos(): -math.inf},
            stream=True,
        )
        return _sample(start, [_stamp(c["choices"][0]["text"], on_loop=False) for c in chunks])


class RawTransformers:
    """transformers called directly on the CPU, on the checkpoint Cadre converts once."""

    def __init__(
        self, source: Path, cache_dir: Path, threads: int | None, args: argparse.Namespace
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from agents.models.local.transformers_runtime import converted_weights

        if threads:
            torch.set_num_threads(threads)
        weights = converted_weights(source, cache_dir)
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(weights))
        model: Any = AutoModelForCausalLM.from_pretrained(str(weights), dtype=torch.float32)
        self.model = model.eval()
        self.args = args

    async def measure(self, user_text: str) -> Sample:
        """Greedy `generate` forced to the full token count; a bare streamer takes times."""
        import torch
        from transformers.generation.streamers import BaseStreamer

        tokenizer, stamps = self.tokenizer, []

        class _Stamps(BaseStreamer):
            def put(self, value: Any) -> None:
                stamps.append((_stamp("", on_loop=False), value))

            def end(self) -> None:
                pass

        start = time.perf_counter()
        encoded = tokenizer.apply_chat_template(
            _chat(self.args, user_text),
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.inference_mode():
            self.model.generate(
                **encoded,
                max_new_tokens=self.args.tokens,
                min_new_tokens=self.args.tokens,
                do_sample=False,
                repetition_penalty=self.args.repeat_penalty,
                streamer=_Stamps(),
                pad_token_id=tokenizer.eos_token_id,
            )
        # The first `put` is the prompt itself; every later one is one new token.
        pieces = [(*stamp[:3], tokenizer.decode(v.reshape(-1))) for stamp, v in stamps[1:]]
        return _sample(start, pieces)


def provider_way(model: LocalModel, args: argparse.Namespace) -> Callable[[str], Awaitable[Sample]]:
    """Measure through `LocalModel.stream`, as the chat handler consumes it."""

    async def measure(user_text: str) -> Sample:
        messages = [ChatMessage.system(args.system_prompt), ChatMessage.user(user_text)]
        options = ModelOptions(max_tokens=args.tokens, temperature=0.0)
        start = time.perf_counter()
        stamps = [
            _stamp(event.text)
            async for event in model.stream(messages, options=options)
            if isinstance(event, TextChunk)
        ]
        return _sample(start, stamps)

    return measure


def served_way(url: str, cookie: str, pid: int) -> Callable[[str], Awaitable[Sample]]:
    """Measure through the served chat: a fresh chat per request, as a new browser tab.

    The served chat goes through the Chief of Staff, which routes the request and answers
    with its own instructions or hands it to an operator: the prompt differs from the raw
    one, so its size is read from the answer's usage metadata (one generation per turn).
    CPU time is the server's plus this process's (the socket.io client, as a browser).
    """
    from tests.support.chainlit_client import ChainlitClient, tokens_of

    async def measure(user_text: str) -> Sample:
        client = ChainlitClient(url, cookie=cookie)
        # wall, server CPU, server event loop CPU (its main thread), client CPU
        stamps: dict[int, tuple[float, float, float, float]] = {}
        record = client.sio.handlers["/"]["*"]

        async def stamped(name: str, data: Any = None) -> None:
            stamp = (time.perf_counter(), _cpu_of(pid), _cpu_of(pid, pid), time.process_time())
            await record(name, data)
            if name in ("stream_start", "stream_token"):
                stamps[len(client.events) - 1] = stamp

        client.sio.on("*", stamped)
        await client.connect()
        try:
            before = len(client.events)
            start = time.perf_counter()
            await client.ask(user_text, timeout=1800)
        finally:
            await client.close()
        turn = client.events[before:]
        # The first step to stream is the one the model writes into live.
        begun = [e for e in turn if e.name == "stream_start"]
        if not begun:
            raise RuntimeError(f"no streamed reply: {[e.name for e in turn]}")
        reply = begun[0].data["id"]
        mine = [
            (stamps[before + i], "".join(tokens_of([e], reply)))
            for i, e in enumerate(turn)
            if before + i in stamps
        ]
        mine = [(stamp, text) for stamp, text in mine if text]
        pieces = [(wall, cpu + client, loop, text) for (wall, cpu, loop, client), text in mine]
        client_cpu = mine[-1][0][3] - mine[0][0][3] if mine else 0.0
        usage = [m["metadata"] for m in client.messages(turn).values() if m.get("metadata")]
        prompt = next((u["input_tokens"] for u in reversed(usage) if "input_tokens" in u), None)
        return _sample(
            start,
            pieces,
            prompt_tokens=prompt,
            author=begun[0].data.get("name", ""),
            cpu_client_s=client_cpu,
        )

    return measure


def _import_repo_tests() -> None:
    # A third-party wheel installs a top-level `tests` package that shadows ours.
    package = types.ModuleType("tests")
    package.__path__ = [str(ROOT / "tests")]
    sys.modules["tests"] = package


def user_text(raw: RawLlama, prompt_tokens: int, nonce: str, instruction: str) -> str:
    """A nonce, as many words of the held-out text as fit `prompt_tokens`, the instruction."""
    words = HELDOUT.read_text(encoding="utf-8").split(" ")
    low, high = 1, len(words)
    while low < high:  # the longest prefix of words whose templated prompt fits
        mid = (low + high + 1) // 2
        text = f"{nonce}\n\n{' '.join(words[:mid])}\n\n{instruction}"
        low, high = (mid, high) if len(raw.prompt(text)) <= prompt_tokens else (low, mid - 1)
    return f"{nonce}\n\n{' '.join(words[:low])}\n\n{instruction}"


def report(ways: list[Way], prompt_tokens: int, count: Callable[[str], int]) -> None:
    """Print the medians, the ratios to raw and whether every way wrote the same text.

    Ratios are medians of per-round ratios: a way and its raw baseline run back to back in
    each round, so slow drifts in background load cancel out.
    """

    def decode(s: Sample) -> float:
        return (count(s.text) - 1) / s.decode_s if s.decode_s > 0 else math.nan

    def per_token(seconds: float, s: Sample) -> float:
        return 1000 * seconds / max(1, count(s.text) - 1)

    def median(values: Iterable[float]) -> float:
        return float(statistics.median(list(values)))

    print(f"\nmedians over {len(ways[0].samples)} runs\n")
    print(
        "| runtime | way | prompt tokens | prompt tok/s | TTFT s | new tokens | decode tok/s "
        "| best decode tok/s | decode / raw | TTFT / raw | CPU ms/token | event loop ms/token "
        "| text matches raw |"
    )
    print("|---" * 13 + "|")
    for way in ways:
        raw = next(w for w in ways if w.runtime == way.runtime and w.name == "raw")
        pairs = list(zip(way.samples, raw.samples, strict=True))
        # Raw runs cannot stop early, so a reply that stopped at EOS matches a prefix of raw's.
        same = sum(r.text.startswith(s.text) for s, r in pairs)
        prompts = [s.prompt_tokens or prompt_tokens for s in way.samples]
        print(
            f"| {way.runtime} | {way.name} | {median(prompts):.0f} "
            f"| {median(p / s.ttft for p, s in zip(prompts, way.samples, strict=True)):.0f} "
            f"| {median(s.ttft for s in way.samples):.2f} "
            f"| {median(count(s.text) for s in way.samples):.0f} "
            f"| {median(decode(s) for s in way.samples):.1f} "
            f"| {max(decode(s) for s in way.samples):.1f} "
            f"| {median(decode(s) / decode(r) for s, r in pairs):.2f} "
            f"| {median(s.ttft / r.ttft for s, r in pairs):.2f} "
            f"| {median(per_token(s.cpu_decode_s, s) for s in way.samples):.1f} "
            f"| {median(per_token(s.loop_s, s) for s in way.samples):.2f} "
            f"| {same}/{len(way.samples)} |"
        )
    print("\nper run (TTFT s / decode tok/s / CPU ms per token [who streamed; client CPU]):")
    for way in ways:
        runs = ", ".join(
            f"{s.ttft:.2f}/{decode(s):.1f}/{per_token(s.cpu_decode_s, s):.1f}"
            + (f" [{s.author}; {per_token(s.cpu_client_s, s):.1f}]" if s.author else "")
            for s in way.samples
        )
        print(f"  {way.runtime:12} {way.name:8} {runs}")


async def bench(args: argparse.Namespace) -> None:
    """Load every way, run the rounds interleaved, print the table."""
    _import_repo_tests()
    from tests.support.server import cadre_server

    cache = args.model_dir or args.data_dir / "models"
    cache.mkdir(parents=True, exist_ok=True)
    source = model_file(args.model, cache)
    gguf = source
    if BUNDLED_MODELS[args.model].requantize:
        gguf = quantized_gguf(source, args.quantization, cache)
    threads = thread_counts(os.cpu_count() or 1, args.threads or None, None)
    print(
        f"weights {gguf.name}, {threads[0]} decode / {threads[1]} prompt threads, "
        f"{args.tokens} new tokens, cpu"
    )
    raw_llama = RawLlama(gguf, threads, args.context, args)
    ways: list[Way] = []
    with ExitStack() as stack:
        for runtime in args.runtimes:
            config = LocalModelConfig(
                cache_dir=cache,
                runtime=runtime,
                device="cpu",
                quantization=args.quantization,
                threads=args.threads or None,
                context_window=args.context,
                max_tokens=args.tokens,
                temperature=0.0,
            )
            model = LocalModel(args.model, config)
            await model.warm()  # converts the transformers checkpoint once, into `cache`
            raw: Callable[[str], Awaitable[Sample]] = (
                raw_llama.measure
                if runtime == "llama_cpp"
                else RawTransformers(source, cache, args.threads or None, args).measure
            )
            served_dir = args.data_dir / f"served-{args.model}-{runtime}"
            served_dir.mkdir(parents=True, exist_ok=True)
            server = stack.enter_context(
                cadre_server(
                    served_dir,
                    CADRE_MODEL_DIR=str(cache.resolve()),
                    CADRE_CHAT_MODEL=f"local:{args.model}",
                    CADRE_LOCAL_RUNTIME=runtime,
                    CADRE_LOCAL_DEVICE="cpu",
                    CADRE_LOCAL_QUANTIZATION=args.quantization,
                    CADRE_LOCAL_THREADS=str(args.threads),
                    CADRE_LOCAL_CONTEXT_WINDOW=str(args.context),
                    CADRE_TEMPERATURE="0",
                    CADRE_MAX_NEW_TOKENS=str(args.tokens),
                )
            )
            for name, measure in [
                ("raw", raw),
                ("provider", provider_way(model, args)),
                ("served", served_way(server.url, server.login(), server.process.pid)),
            ]:
                ways.append(Way(runtime, name, measure, []))
        instruction = INSTRUCTIONS.get(args.model, DEFAULT_INSTRUCTION)
        print(f"warming up every way once (not counted); instruction: {instruction!r}")
        for way in ways:
            await way.measure("Warm-up: say hello in one short sentence.")
        rounds = [
            user_text(raw_llama, args.prompt_tokens, f"Request {i + 1:02d}.", instruction)
            for i in range(args.runs)
        ]
        for i, text in enumerate(rounds):
            for way in ways[i % len(ways) :] + ways[: i % len(ways)]:
                way.samples.append(await way.measure(text))
                s = way.samples[-1]
                print(f"  run {i + 1} {way.runtime:12} {way.name:8} TTFT {s.ttft:.2f}s", flush=True)
        report(ways, len(raw_llama.prompt(rounds[0])), raw_llama.count)


def main() -> None:
    """Parse the options and run the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="qwen2.5-1.5b", choices=list(BUNDLED_MODELS), help="bundled model"
    )
    parser.add_argument("--runs", type=int, default=5, help="rounds per way (median)")
    parser.add_argument("--quick", action="store_true", help="1 run, ~400-token prompt, 32 tokens")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per request")
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument(
        "--runtimes",
        default="",
        help=f"comma-separated; default llama_cpp, plus transformers for {TRANSFORMERS_MODELS}",
    )
    parser.add_argument(
        "--quantization", default=Settings.model_fields["local_quantization"].default
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="decode threads; 0: Cadre's default (cores - 1)"
    )
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/cadre-bench-generation"))
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="model files and converted weights (CADRE_MODEL_DIR); default DATA_DIR/models; "
        "data/models reuses the Qwen file Cadre assembled",
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.prompt_tokens, args.tokens = 1, 400, 32
    runtimes = args.runtimes or (
        ",".join(RUNTIMES) if args.model in TRANSFORMERS_MODELS else "llama_cpp"
    )
    args.runtimes = [r for r in runtimes.split(",") if r]
    args.system_prompt = Settings.model_fields["system_prompt"].default
    args.repeat_penalty = LocalModelConfig.__dataclass_fields__["repeat_penalty"].default
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
