"""llama.cpp thread counts on a CPU: prompt and decode speed, idle and with one core kept busy.

Usage:  .venv/bin/python bench/threads.py [--model qwen2.5-1.5b] [--repeats 2] [--busy 1]

llama.cpp takes separate thread counts for decoding (`n_threads`) and for reading the prompt
in batches (`n_threads_batch`). Cadre picks them with
`agents.models.local.llama_cpp_runtime.thread_counts(cores, None, None)`: every core but one
for decoding, every core for the prompt. This bench loads the bundled model with
`llama_cpp.Llama(n_ctx=2048, n_threads=D, n_threads_batch=B)` for three settings — every
core for both, Cadre's, and every core but one for both ((2, 2), (1, 2), (1, 1) on two
cores) — and measures each one:

- prompt tok/s: `Llama.eval` of `--prompt-tokens` tokens of `bench/heldout.txt` (one batch)
  after a reset, so nothing is reused from the previous run;
- decode tok/s: greedy (temperature 0) tokens through `Llama.generate`, one eval and one
  sample each, `--tokens` of them or as many as `--max-decode-s` seconds allow;

(a) on an otherwise idle machine and (b) while `--busy` shell loops (`while :; do :; done`)
keep cores busy; each loop starts before and is killed after each measurement. Idle and busy
alternate in a rotating order; figures are medians of `--repeats` runs. The table gives each
busy/idle ratio and marks the setting Cadre uses.

Caveats. A shell loop is the simplest competitor: it never sleeps and never yields, like a
busy embedder or parser, but the server's real neighbours come and go, and a process with
threads of its own competes harder. Other work on a shared machine shows up as noise in the
idle figures too (the load average is printed before and after). When decode collapses, the
time cap means its figure comes from a few tokens, and a collapsed run is erratic: read the
busy/idle ratio as an order of magnitude, not a precise factor. Two repeats are enough to see
a 10x effect, not a 10% one. Results hold for the CPU and core count they were measured on.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.models.local import model_file, quantized_gguf
from agents.models.local.bundled import bundled
from agents.models.local.llama_cpp_runtime import thread_counts

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = Path(__file__).resolve().parent / "heldout.txt"
CONDITIONS = ("idle", "busy")


@dataclass
class Setting:
    """One (decode threads, prompt threads) pair and what it measured."""

    decode_threads: int
    batch_threads: int
    prompt: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONDITIONS})
    """Prompt tok/s per condition, one value per repeat."""
    decode: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONDITIONS})
    """Decode tok/s per condition, one value per repeat."""


def settings_for(cores: int) -> list[Setting]:
    """Every core for both, Cadre's default, every core but one for both (at least 1)."""
    pairs = [(cores, cores), thread_counts(cores, None, None), (max(1, cores - 1),) * 2]
    return [Setting(d, b) for d, b in dict.fromkeys(pairs)]


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """Keep `count` cores busy with shell loops for the duration of the block."""
    loops = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(count)]
    try:
        time.sleep(0.5)  # let the scheduler spread them before we measure
        yield
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()


def measure(llm: Any, prompt: list[int], args: argparse.Namespace) -> tuple[float, float]:
    """Prompt tok/s and decode tok/s of one run."""
    llm.reset()
    start = time.perf_counter()
    llm.eval(prompt[:-1])
    prompt_rate = (len(prompt) - 1) / (time.perf_counter() - start)
    # The prompt's last token is the first decode step: each step is one eval and one sample.
    steps, start = 0, time.perf_counter()
    for _ in llm.generate(prompt[-1:], temp=0.0, reset=False):
        steps += 1
        if steps >= args.tokens or time.perf_counter() - start >= args.max_decode_s:
            break
    return prompt_rate, steps / (time.perf_counter() - start)


def run_setting(setting: Setting, gguf: Path, prompt_text: str, args: argparse.Namespace) -> None:
    """Load the model with this setting's threads and measure idle and busy, interleaved."""
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(gguf),
        n_ctx=2048,
        n_threads=setting.decode_threads,
        n_threads_batch=setting.batch_threads,
        verbose=False,
    )
    prompt = llm.tokenize(prompt_text.encode(), add_bos=False)[: args.prompt_tokens]
    if len(prompt) < args.prompt_tokens:
        raise SystemExit(f"bench/heldout.txt has only {len(prompt)} tokens for this model")
    # Warm-up, not counted: pages the weights in and sizes llama.cpp's buffers.
    llm.eval(prompt[:32])
    for _ in zip(range(4), llm.generate(prompt[32:33], temp=0.0, reset=False), strict=False):
        pass
    for repeat in range(args.repeats):
        order = CONDITIONS if repeat % 2 == 0 else CONDITIONS[::-1]
        for condition in order:
            if condition == "busy":
                with busy_cores(args.busy):
                    rates = measure(llm, prompt, args)
            else:
                rates = measure(llm, prompt, args)
            setting.prompt[condition].append(rates[0])
            setting.decode[condition].append(rates[1])
            print(
                f"  ({setting.decode_threads}, {setting.batch_threads}) run {repeat + 1} "
                f"{condition}: prompt {rates[0]:.1f} tok/s, decode {rates[1]:.1f} tok/s",
                flush=True,
            )
    del llm
    gc.collect()  # free this setting's weights and context before the next one loads


def report(settings: list[Setting], cadre: tuple[int, int], busy: int) -> None:
    """Print the Markdown table of medians and busy/idle ratios."""

    def median(values: list[float]) -> float:
        return float(statistics.median(values))

    print(
        f"\nmedians over {len(settings[0].prompt['idle'])} runs; busy: {busy} core(s) "
        "spinning in a shell loop\n"
    )
    print(
        "| decode threads | prompt threads | prompt tok/s idle | prompt tok/s busy "
        "| prompt busy/idle | decode tok/s idle | decode tok/s busy | decode busy/idle | |"
    )
    print("|---" * 9 + "|")
    for s in settings:
        p_idle, p_busy = median(s.prompt["idle"]), median(s.prompt["busy"])
        d_idle, d_busy = median(s.decode["idle"]), median(s.decode["busy"])
        mark = "**Cadre**" if (s.decode_threads, s.batch_threads) == cadre else ""
        print(
            f"| {s.decode_threads} | {s.batch_threads} | {p_idle:.0f} | {p_busy:.0f} "
            f"| {p_busy / p_idle:.2f} | {d_idle:.1f} | {d_busy:.1f} | {d_busy / d_idle:.2f} "
            f"| {mark} |"
        )
    print("\nper run (prompt / decode tok/s):")
    for s in settings:
        for condition in CONDITIONS:
            runs = ", ".join(
                f"{p:.0f}/{d:.1f}"
                for p, d in zip(s.prompt[condition], s.decode[condition], strict=True)
            )
            print(f"  ({s.decode_threads}, {s.batch_threads}) {condition:4} {runs}")


def main() -> None:
    """Parse the options and run the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-1.5b", help="a bundled model's name")
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=ROOT / "data" / "models",
        help="where the bundled model file is assembled (Cadre's default)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs per condition (median)")
    parser.add_argument("--prompt-tokens", type=int, default=500)
    parser.add_argument("--tokens", type=int, default=64, help="decode tokens per run")
    parser.add_argument(
        "--max-decode-s", type=float, default=15.0, help="stop a collapsed decode early"
    )
    parser.add_argument("--busy", type=int, default=1, help="cores kept busy in (b)")
    args = parser.parse_args()

    gguf = model_file(args.model, args.model_dir)
    if bundled(args.model).requantize:
        gguf = quantized_gguf(gguf, "q8_0", args.model_dir)  # what Cadre runs by default
    cores = os.cpu_count() or 1
    cadre = thread_counts(cores, None, None)
    settings = settings_for(cores)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{gguf.name}, {cores} cores, Cadre uses (decode, prompt) = {cadre}, load {load}")
    prompt_text = HELDOUT.read_text(encoding="utf-8")
    started = time.perf_counter()
    for setting in settings:
        run_setting(setting, gguf, prompt_text, args)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\ndone in {time.perf_counter() - started:.0f} s, load {load}")
    report(settings, cadre, args.busy)


if __name__ == "__main__":
    main()
