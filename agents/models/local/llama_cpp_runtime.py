"""llama.cpp through llama-cpp-python: the fastest path on a CPU."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from agents.errors import ModelError
from agents.models.base import FinishReason
from agents.models.local.llama_log import import_llama_cpp
from agents.models.local.runtime import Generated, Sampling

log = logging.getLogger(__name__)

PROMPT_CACHE_BYTES = 768 << 20
"""KV states of recent prompts kept in RAM, so the next prompt that shares their beginning
(the same agent's instructions, the conversation so far) skips re-reading it."""


def thread_counts(cores: int, decode: int | None, batch: int | None) -> tuple[int, int]:
    """Decode and prompt threads for `cores` CPU cores, unless set explicitly.

    llama.cpp's decode threads spin at a barrier after every layer: with one thread per core,
    any other busy process (the server embedding, parsing or serving while it generates)
    makes them wait on each other and decode collapses 10-50x. One core is left free for
    decoding. Prompt reading works on large batches, so its barriers are rare and it uses
    every core.
    """
    return decode or max(1, cores - 1), batch or cores


def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU advertises Intel AMX tiles (read from Linux's /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return any(
        line.startswith("flags") and "amx_tile" in line.split() for line in text.splitlines()
    )


_LOAD_LOCK = threading.Lock()


@contextmanager
def _plain_weight_buffers(enabled: bool) -> Iterator[None]:
    """Load with llama.cpp's extra weight buffers (AMX, repacked layouts) turned off.

    On AMX CPUs (Sapphire Rapids and later) llama.cpp puts Q4_K weights in an AMX buffer,
    and its AMX kernels die with SIGILL on the virtual machines Cadre is tested on (a plain
    AMX program runs there: the fault is in the kernels' tile handling). llama-cpp-python has
    no argument for `use_extra_bufts`, so its default model parameters are wrapped while the
    model loads; the lock keeps concurrent loads from seeing each other's wrapper.
    """
    if not enabled:
        yield
        return
    bindings = import_llama_cpp().llama_cpp

    with _LOAD_LOCK:
        default = bindings.llama_model_default_params

        def without_extra_buffers() -> Any:
            params = default()
            params.use_extra_bufts = False
            return params

        bindings.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            bindings.llama_model_default_params = default


@lru_cache(maxsize=32)
def _grammar(schema: str) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar

    # Its `verbose` flag does nothing in this version (the grammar is compiled by llama.cpp
    # when sampling, logging through `llama_log`): left at its default, never quiet mode.
    return LlamaGrammar.from_json_schema(schema)


class LlamaCppRuntime:
    """A GGUF model served by llama.cpp, using the chat template stored in the file."""

    name = "llama.cpp"
    device = "cpu"
    constrained = True

    def __init__(
        self,
        gguf: Path,
        context_window: int,
        threads: int | None = None,
        batch_threads: int | None = None,
        gpu_layers: int = 0,
    ) -> None:
        try:
            import_llama_cpp()
            from llama_cpp import Llama
            from llama_cpp.llama_cache import LlamaRAMCache
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError(
                "llama-cpp-python is not installed: `pip install llama-cpp-python`, "
                "or set CADRE_LOCAL_RUNTIME=transformers."
            ) from exc
        decode, batch = thread_counts(os.cpu_count() or 1, threads, batch_threads)
        plain = cpu_has_amx()
        if plain:
            log.info("AMX CPU: llama.cpp's AMX and repacked weight buffers are off")
        with _plain_weight_buffers(plain):
            self._llm = Llama(
                model_path=str(gguf),
                n_ctx=context_window,
                n_threads=decode,
                n_threads_batch=batch,
                n_gpu_layers=gpu_layers,
                # Never False: quiet mode points the whole process's stdout and stderr at
                # /dev/null while the model loads, and other threads' log lines are lost.
                # What verbose prints goes to the `llama.cpp` logger (see llama_log).
                verbose=True,
            )
        if gpu_layers:
            self.device = "cuda"
        self._llm.set_cache(LlamaRAMCache(capacity_bytes=PROMPT_CACHE_BYTES))
        self.threads = (decode, batch)
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{gguf.name} has no chat template in its metadata.")
        eos = self._llm.token_eos()
        bos = self._llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=self._llm._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self.context_window = self._llm.n_ctx()

    def count(self, text: str) -> int:
        """Tokens in `text`."""
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=False))

    def tail(self, text: str, max_tokens: int) -> str:
        """The last `max_tokens` tokens of `text`."""
        tokens = self._llm.tokenize(text.encode(), add_bos=False, special=False)
        return self._llm.detokenize(tokens[-max_tokens:]).decode(errors="ignore")

    def generate(
        self,
        messages: list[dict[str, str]],
        sampling: Sampling,
        emit: Callable[[str], None],
        cancel: threading.Event,
    ) -> Generated:
        """Stream a completion of the templated conversation."""
        wire: Any = messages  # llama-cpp-python's TypedDicts describe the same plain dicts
        formatted = self._formatter(messages=wire)
        prompt = self._llm.tokenize(
            formatted.prompt.encode(), add_bos=not formatted.added_special, special=True
        )
        room = self.context_window - len(prompt)
        if room <= 0:
            raise ModelError("The conversation does not fit the model's context window.")
        stop = [*_as_list(formatted.stop), *sampling.stop]
        grammar = None
        if sampling.json_schema is not None:
            grammar = _grammar(json.dumps(sampling.json_schema, sort_keys=True))
        chunks: Any = self._llm.create_completion(
            prompt,
            max_tokens=min(sampling.max_tokens, room),
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            repeat_penalty=sampling.repeat_penalty,
            seed=sampling.seed,
            stop=stop,
            stream=True,
            grammar=grammar,
        )
        produced = 0
        finish: FinishReason = "stop"
        try:
            for chunk in chunks:
                if cancel.is_set():
                    finish = "cancelled"
                    break
                choice = chunk["choices"][0]
                if text := choice["text"]:
                    produced += 1
                    emit(text)
                if choice["finish_reason"] == "length":
                    finish = "length"
        finally:
            chunks.close()  # stops llama.cpp at once when we leave early
        return Generated(len(prompt), produced, finish)


def _as_list(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)
