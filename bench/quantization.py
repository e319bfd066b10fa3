"""Is re-quantizing the bundled Q4_1 SmolLM2 to Q8_0 or Q4_0 at first start worth it?

Usage:  .venv/bin/python bench/quantization.py [--runs N] [--quick] [--threads T]

The bundled GGUF is Q4_1; Cadre can re-quantize it once into its cache
(`CADRE_LOCAL_QUANTIZATION`). For each of q4_1 / q8_0 / q4_0, with llama.cpp on the CPU:

- speed: prompt tokens/s and decode tokens/s for a ~1,500-token prompt and 128 greedy tokens
  (`Llama.generate` yields tokens without stopping at EOS, so every run decodes the full
  count), interleaved across quantizations in a rotating order, median over `--runs` rounds,
  so background load on a shared machine hits each alike;
- fidelity to the shipped Q4_1 on `bench/heldout.txt` (~2,000 tokens of varied English
  written for this bench), teacher-forced in 512-token windows: how often the most likely
  next token agrees with Q4_1's, the mean KL divergence KL(Q4_1 || quant) of the next-token
  distributions, and each model's perplexity on the text;
- answers: greedy replies (chat template, Cadre's repeat penalty) to 20 short factual and
  instruction prompts: identical to Q4_1's reply, word-level similarity to it, and whether the
  reply contains the expected answer.

Also the one-off cost: re-quantization time and file size.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.models.local import LocalModelConfig, bundled_gguf, quantized_gguf
from app.settings import Settings

HELDOUT = Path(__file__).resolve().parent / "heldout.txt"
QUANTS = ("q4_1", "q8_0", "q4_0")
REFERENCE = "q4_1"

PROMPTS: list[tuple[str, str]] = [
    # (prompt, regular expression an acceptable answer contains)
    ("What is the capital of France?", r"Paris"),
    ("How many days are there in a week?", r"\bseven\b|\b7\b"),
    ("What colour is the sky on a clear day?", r"blue"),
    ("What is 2 plus 2?", r"\bfour\b|\b4\b"),
    ("Who wrote Romeo and Juliet?", r"Shakespeare"),
    ("What is the largest planet in our solar system?", r"Jupiter"),
    ("Which gas do plants take in from the air to make food?", r"carbon dioxide|CO2"),
    ("At what temperature in Celsius does water freeze?", r"\b0\b|zero"),
    ('Translate "thank you" into French.', r"[Mm]erci"),
    ('What is the opposite of "hot"?', r"cold"),
    ("Name the first month of the year.", r"January"),
    ("How many legs does a spider have?", r"\beight\b|\b8\b"),
    ("What is the capital of Japan?", r"Tokyo"),
    ('Write the word "apple" in capital letters.', r"APPLE"),
    ("Which animal is called the king of the jungle?", r"[Ll]ion"),
    ("What is H2O more commonly called?", r"[Ww]ater"),
    ("Which is the largest ocean on Earth?", r"Pacific"),
    ("List the three primary colours.", r"[Rr]ed"),
    ("What do bees make from nectar?", r"[Hh]oney"),
    ('Give one word that means the same as "happy".', r"glad|joyful|cheerful|content|pleased"),
]


def load(gguf: Path, threads: int, context: int, **kw: Any) -> Any:
    """A quiet llama.cpp model."""
    from llama_cpp import Llama

    return Llama(
        model_path=str(gguf),
        n_ctx=context,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
        **kw,
    )


def prepare(args: argparse.Namespace) -> tuple[dict[str, Path], dict[str, float]]:
    """The GGUF for each quantization (cached), and how long a fresh re-quantization takes."""
    source = bundled_gguf()
    files = {q: quantized_gguf(source, q, args.data_dir / "models") for q in QUANTS}
    seconds = {REFERENCE: 0.0}
    with tempfile.TemporaryDirectory() as scratch:
        for q in QUANTS[1:]:
            started = time.perf_counter()
            quantized_gguf(source, q, Path(scratch))
            seconds[q] = time.perf_counter() - started
    return files, seconds


def speed(files: dict[str, Path], args: argparse.Namespace) -> dict[str, list[tuple[float, float]]]:
    """(prompt tok/s, decode tok/s) per run per quantization, runs interleaved."""
    models = {
        q: load(f, args.threads, args.prompt_tokens + args.tokens + 8) for q, f in files.items()
    }
    text = HELDOUT.read_text(encoding="utf-8")
    any_model = models[REFERENCE]
    base = any_model.tokenize(text.encode(), add_bos=False)
    results: dict[str, list[tuple[float, float]]] = {q: [] for q in QUANTS}
    order = list(QUANTS)
    for run in range(args.runs + 1):  # run 0 warms caches and is not counted
        # A different slice of the text each run; every quantization sees the same one.
        offset = (run * 97) % max(1, len(base) - args.prompt_tokens)
        prompt = base[offset : offset + args.prompt_tokens]
        for q in order[run % 3 :] + order[: run % 3]:
            llm = models[q]
            llm.reset()  # no prefix-cache reuse between runs
            started = time.perf_counter()
            stamps = []
            for _ in llm.generate(prompt, temp=0.0, repeat_penalty=args.repeat_penalty):
                stamps.append(time.perf_counter())
                if len(stamps) == args.tokens:
                    break
            prefill = len(prompt) / (stamps[0] - started)
            decode = (len(stamps) - 1) / (stamps[-1] - stamps[0])
            if run:
                results[q].append((prefill, decode))
            print(
                f"  run {run} {q}: prompt {prefill:.0f} tok/s, decode {decode:.1f} tok/s",
                flush=True,
            )
    return results


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return result


def fidelity(files: dict[str, Path], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Next-token agreement, mean KL to Q4_1 and perplexity over the held-out text."""
    models = {q: load(f, args.threads, args.window, logits_all=True) for q, f in files.items()}
    tokens = models[REFERENCE].tokenize(HELDOUT.read_text(encoding="utf-8").encode(), add_bos=False)
    tokens = tokens[: args.heldout_tokens]
    agree = {q: 0 for q in QUANTS}
    kl: dict[str, list[np.ndarray]] = {q: [] for q in QUANTS}
    nll: dict[str, list[np.ndarray]] = {q: [] for q in QUANTS}
    positions = 0
    for start in range(0, len(tokens) - 1, args.window):
        window = tokens[start : start + args.window]
        if len(window) < 2:
            break
        logp: dict[str, np.ndarray] = {}
        for q, llm in models.items():
            llm.reset()
            llm.eval(window)
            # Row i predicts token i + 1; the last row has nothing to predict here.
            logp[q] = _log_softmax(np.asarray(llm.scores[: len(window) - 1], dtype=np.float64))
        targets = np.asarray(window[1:])
        ref = logp[REFERENCE]
        for q in QUANTS:
            agree[q] += int((logp[q].argmax(-1) == ref.argmax(-1)).sum())
            kl[q].append((np.exp(ref) * (ref - logp[q])).sum(-1))
            nll[q].append(-logp[q][np.arange(len(targets)), targets])
        positions += len(targets)
    return {
        q: {
            "positions": positions,
            "agreement": agree[q] / positions,
            "kl": float(np.concatenate(kl[q]).mean()),
            "kl_p99": float(np.percentile(np.concatenate(kl[q]), 99)),
            "perplexity": float(np.exp(np.concatenate(nll[q]).mean())),
        }
        for q in QUANTS
    }


def answers(files: dict[str, Path], args: argparse.Namespace) -> dict[str, list[str]]:
    """Greedy chat replies to the prompts, per quantization."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    replies: dict[str, list[str]] = {}
    for q, path in files.items():
        llm = load(path, args.threads, 512)
        formatter = Jinja2ChatFormatter(
            template=llm.metadata["tokenizer.chat_template"],
            eos_token="<|im_end|>",
            bos_token="<|im_start|>",
        )
        replies[q] = []
        for prompt, _ in PROMPTS[: args.prompts]:
            messages: Any = [
                {"role": "system", "content": args.system_prompt},
                {"role": "user", "content": prompt},
            ]
            formatted = formatter(messages=messages)
            tokens = llm.tokenize(formatted.prompt.encode(), add_bos=False, special=True)
            out: Any = llm.create_completion(
                tokens,
                max_tokens=args.answer_tokens,
                temperature=0.0,
                repeat_penalty=args.repeat_penalty,
                stop=["<|im_end|>"],
            )
            replies[q].append(out["choices"][0]["text"].strip())
    return replies


def report(
    files: dict[str, Path],
    seconds: dict[str, float],
    speeds: dict[str, list[tuple[float, float]]],
    quality: dict[str, dict[str, float]],
    replies: dict[str, list[str]],
) -> None:
    """Print one table with every figure, then the replies that differ from Q4_1's."""
    ref_prefill = statistics.median(p for p, _ in speeds[REFERENCE])
    ref_decode = statistics.median(d for _, d in speeds[REFERENCE])
    n = len(replies[REFERENCE])
    print(
        f"\nmedians over {len(speeds[REFERENCE])} runs; fidelity over "
        f"{int(quality[REFERENCE]['positions'])} held-out positions; {n} prompts\n"
    )
    print(
        "| weights | size MB | re-quantize s | prompt tok/s | × q4_1 | decode tok/s | × q4_1 "
        "| top-1 agrees with q4_1 | mean KL | p99 KL | perplexity | same reply as q4_1 "
        "| reply similarity | expected answer |"
    )
    print("|---" * 14 + "|")
    for q in QUANTS:
        prefill = statistics.median(p for p, _ in speeds[q])
        decode = statistics.median(d for _, d in speeds[q])
        same = sum(a == b for a, b in zip(replies[q], replies[REFERENCE], strict=True))
        similarity = statistics.mean(
            difflib.SequenceMatcher(None, a.split(), b.split()).ratio()
            for a, b in zip(replies[q], replies[REFERENCE], strict=True)
        )
        correct = sum(
            bool(re.search(pattern, reply))
            for (_, pattern), reply in zip(PROMPTS, replies[q], strict=False)
        )
        quality_q = quality[q]
        print(
            f"| {q} | {files[q].stat().st_size / 1e6:.0f} | {seconds[q]:.1f} "
            f"| {prefill:.0f} | {prefill / ref_prefill:.2f} | {decode:.1f} "
            f"| {decode / ref_decode:.2f} | {quality_q['agreement']:.1%} "
            f"| {quality_q['kl']:.4f} | {quality_q['kl_p99']:.3f} | {quality_q['perplexity']:.2f} "
            f"| {same}/{n} | {similarity:.2f} | {correct}/{n} |"
        )
    print("\nper run (prompt tok/s / decode tok/s):")
    for q in QUANTS:
        print(f"  {q}: " + ", ".join(f"{p:.0f}/{d:.1f}" for p, d in speeds[q]))
    print("\nreplies that differ from q4_1's:")
    for i, (prompt, _) in enumerate(PROMPTS[:n]):
        differing = [q for q in QUANTS[1:] if replies[q][i] != replies[REFERENCE][i]]
        if differing:
            print(f"- {prompt}\n    q4_1: {replies[REFERENCE][i][:160]!r}")
            for q in differing:
                print(f"    {q}: {replies[q][i][:160]!r}")


def main() -> None:
    """Parse the options and run the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="speed rounds (median)")
    parser.add_argument("--quick", action="store_true", help="1 run, short prompt, 5 prompts")
    parser.add_argument("--threads", type=int, default=0, help="0: every core, as Cadre does")
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--tokens", type=int, default=128, help="decoded tokens per speed run")
    parser.add_argument("--window", type=int, default=512, help="teacher-forcing window")
    parser.add_argument("--heldout-tokens", type=int, default=4096)
    parser.add_argument("--prompts", type=int, default=len(PROMPTS))
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/cadre-bench-generation"))
    args = parser.parse_args()
    if args.quick:
        args.runs, args.prompt_tokens, args.tokens = 1, 400, 32
        args.heldout_tokens, args.prompts = 512, 5
    args.threads = args.threads or os.cpu_count() or 1
    args.system_prompt = Settings.model_fields["system_prompt"].default
    args.repeat_penalty = LocalModelConfig.__dataclass_fields__["repeat_penalty"].default

    files, seconds = prepare(args)
    print(f"{args.threads} threads; bundled {files[REFERENCE].name}")
    print("speed (interleaved):")
    speeds = speed(files, args)
    print("fidelity to q4_1 on the held-out text ...")
    quality = fidelity(files, args)
    print("answers ...")
    replies = answers(files, args)
    report(files, seconds, speeds, quality, replies)


if __name__ == "__main__":
    main()
