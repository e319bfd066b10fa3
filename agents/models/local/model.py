"""`local:*` models: bundled weights, generated off the event loop, one request at a time.

Tool calls: the bundled Qwen models follow a JSON format well but choose tools badly
(small models call tools they do not need), so they never decide. When code decides a call
is needed it asks with `tool_choice="required"`, and llama.cpp constrains decoding to the
tools' JSON schemas, so the call is always valid JSON for a declared tool.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agents.errors import ModelError, ModelNotFound
from agents.models.base import (
    Capabilities,
    ChatMessage,
    Finish,
    ModelEvent,
    ModelOptions,
    QueuePosition,
    TextChunk,
    ToolCall,
    ToolSpec,
    Usage,
)
from agents.models.context import fit_to_context
from agents.models.local.bundled import (
    AUTO,
    BUNDLED_MODELS,
    BundledModel,
    bundled,
    choose_default,
    model_file,
    quantized_gguf,
    total_memory,
)
from agents.models.local.runtime import Generated, Runtime, Sampling
from agents.models.queue import GenerationQueue

log = logging.getLogger(__name__)

LOCAL_MODELS = (AUTO, *BUNDLED_MODELS)
"""Names that `local:<name>` resolves; `auto` is the strongest one this machine can run."""

RuntimeName = Literal["llama_cpp", "transformers"]


@dataclass(frozen=True, slots=True)
class LocalModelConfig:
    """How to run bundled models; built from the app's settings."""

    cache_dir: Path
    """Where re-quantized and converted weights are kept."""
    runtime: Literal["auto", "llama_cpp", "transformers"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    quantization: Literal["q8_0", "q4_0", "q4_1"] = "q8_0"
    threads: int | None = None
    """Decode threads; `None` leaves one core free (see `llama_cpp_runtime.thread_counts`)."""
    batch_threads: int | None = None
    """Prompt-reading threads; `None` uses every core."""
    context_window: int = 4096
    max_tokens: int = 512
    temperature: float = 0.2
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    """Small models loop easily; a mild penalty keeps answers from repeating."""


def choose_runtime(config: LocalModelConfig) -> tuple[RuntimeName, str]:
    """Pick engine and device: transformers on a GPU, llama.cpp on a CPU when installed."""
    from agents.models.local.transformers_runtime import cuda_available

    device = config.device
    if device == "auto":
        device = "cuda" if cuda_available() else "cpu"
    elif device == "cuda" and not cuda_available():
        raise ModelError("CADRE_LOCAL_DEVICE=cuda but torch sees no CUDA device.")
    if config.runtime != "auto":
        if config.runtime == "llama_cpp" and device == "cuda":
            log.info("llama.cpp runs on the CPU here; the GPU stays unused")
        return config.runtime, "cpu" if config.runtime == "llama_cpp" else device
    if device == "cpu" and importlib.util.find_spec("llama_cpp") is not None:
        return "llama_cpp", "cpu"
    return "transformers", device


class _ProgressLog:
    """Logs assembly progress every 10%: the first start's one visible wait."""

    def __init__(self, title: str) -> None:
        self._title = title
        self._next = 10

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if percent >= self._next:
            log.info(
                "Preparing %s: %d%% (%d of %d MiB)", self._title, percent, done >> 20, total >> 20
            )
            self._next = percent // 10 * 10 + 10


def load_runtime(model: BundledModel, config: LocalModelConfig) -> Runtime:
    """Load `model` with the engine `choose_runtime` picks (blocking)."""
    engine, device = choose_runtime(config)
    source = model_file(model.name, config.cache_dir, _ProgressLog(model.title))
    if engine == "llama_cpp":
        from agents.models.local.llama_cpp_runtime import LlamaCppRuntime

        gguf = source
        if model.requantize:
            gguf = quantized_gguf(source, config.quantization, config.cache_dir)
        return LlamaCppRuntime(gguf, config.context_window, config.threads, config.batch_threads)
    from agents.models.local.transformers_runtime import TransformersRuntime

    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    return TransformersRuntime(source, config.cache_dir, device, config.context_window)


class LocalModel:
    """A bundled model as a `ChatModel`.

    Generation is blocking and CPU-bound, so it runs on a dedicated worker thread; requests
    queue in arrival order and each waiting caller sees its position.
    """

    def __init__(self, name: str, config: LocalModelConfig) -> None:
        if name not in LOCAL_MODELS:
            raise ModelNotFound(f"No bundled model {name!r}; available: {', '.join(LOCAL_MODELS)}.")
        self.reason = "chosen in the settings"
        """Why this model runs (for `cadre doctor` and the logs)."""
        if name == AUTO:
            chosen, self.reason = choose_default(config.cache_dir, total_memory())
            name = chosen.name
            log.info("local:auto is local:%s (%s)", name, self.reason)
        self.bundled = bundled(name)
        self._name = name
        self.config = config
        self._queue = GenerationQueue()
        # One thread: a generation abandoned by a cancelled caller finishes its current token
        # before the next one starts, so two never share the model's state.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"local-{name}")
        self._runtime: Runtime | None = None
        self._loading: asyncio.Future[Runtime] | None = None

    @property
    def id(self) -> str:
        """`local:<name>`."""
        return f"local:{self._name}"

    @property
    def capabilities(self) -> Capabilities:
        """A small chat model: tool calls only when asked for (Qwen on llama.cpp)."""
        constrained = self.bundled.constrained_tools and choose_runtime(self.config)[0] == (
            "llama_cpp"
        )
        return Capabilities(
            constrained_tools=constrained,
            json_schema=constrained,
            context_window=self.config.context_window,
        )

    @property
    def runtime(self) -> Runtime | None:
        """The loaded engine, or `None` before `warm()` finishes."""
        return self._runtime

    async def warm(self) -> None:
        """Load (and on first start, convert) the weights on the worker thread."""
        if self._runtime is not None:
            return
        if self._loading is None:
            loop = asyncio.get_running_loop()
            self._loading = asyncio.ensure_future(
                loop.run_in_executor(self._worker, load_runtime, self.bundled, self.config)
            )
        try:
            self._runtime = await asyncio.shield(self._loading)
        except Exception:
            self._loading = None  # let a later request retry
            raise
        log.info("%s ready on %s (%s)", self.id, self._runtime.name, self._runtime.device)

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        options: ModelOptions | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Wait for a turn, then stream the reply token by token."""
        options = options or ModelOptions()
        async with self._queue.turn() as positions:
            async for position in positions:
                yield QueuePosition(position)
            await self.warm()
            runtime = self._runtime
            assert runtime is not None
            forced = bool(tools) and options.tool_choice == "required"
            if (forced or options.json_schema is not None) and not runtime.constrained:
                raise ModelError(
                    f"{self.id} on {runtime.name} cannot constrain its output to a schema."
                )
            sampling = Sampling(
                max_tokens=options.max_tokens or self.config.max_tokens,
                temperature=(
                    self.config.temperature if options.temperature is None else options.temperature
                ),
                top_p=self.config.top_p if options.top_p is None else options.top_p,
                repeat_penalty=self.config.repeat_penalty,
                stop=options.stop,
                seed=options.seed,
                json_schema=_call_schema(tools) if forced else options.json_schema,
            )
            if forced:
                messages = _with_tool_instructions(messages, tools)
            budget = self.config.context_window - sampling.max_tokens
            fitted = fit_to_context(messages, runtime, budget)
            if not forced:
                async for event in self._generate(runtime, fitted, sampling):
                    yield event
                return
            parts: list[str] = []
            async for event in self._generate(runtime, fitted, sampling):
                if isinstance(event, TextChunk):
                    parts.append(event.text)  # the call's JSON is not text for the user
                elif isinstance(event, Finish):
                    yield _parse_call("".join(parts), tools)
                    yield Finish("tool_calls")
                else:
                    yield event

    async def _generate(
        self, runtime: Runtime, messages: list[ChatMessage], sampling: Sampling
    ) -> AsyncIterator[ModelEvent]:
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | Generated | BaseException] = asyncio.Queue()
        cancel = threading.Event()
        wire = [{"role": m.role, "content": m.content} for m in messages if m.role != "tool"]

        def emit(text: str) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, text)

        def work() -> None:
            try:
                result: Generated | BaseException = runtime.generate(wire, sampling, emit, cancel)
            except BaseException as exc:  # handed to the event loop, re-raised there
                result = exc
            loop.call_soon_threadsafe(pieces.put_nowait, result)

        loop.run_in_executor(self._worker, work)
        try:
            while True:
                item = await pieces.get()
                if isinstance(item, str):
                    yield TextChunk(item)
                elif isinstance(item, Generated):
                    yield Usage(item.input_tokens, item.output_tokens)
                    yield Finish(item.finish_reason)
                    return
                else:
                    raise ModelError(f"{self.id} failed while generating: {item}") from item
        finally:
            # On stop or error the worker sees this between two tokens and returns.
            cancel.set()


def _call_schema(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """JSON schema of exactly one call of one of `tools`."""
    calls: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": t.parameters},
            "required": ["name", "arguments"],
        }
        for t in tools
    ]
    return calls[0] if len(calls) == 1 else {"anyOf": calls}


def _with_tool_instructions(
    messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
) -> list[ChatMessage]:
    listing = "\n".join(
        f"- {t.name}: {t.description.strip().splitlines()[0]} Arguments (JSON schema): "
        f"{json.dumps(t.parameters, ensure_ascii=False)}"
        for t in tools
    )
    note = (
        "Reply with exactly one tool call, as a JSON object "
        '{"name": <tool name>, "arguments": {...}}, and nothing else. Tools:\n' + listing
    )
    result = list(messages)
    if result and result[0].role == "system":
        result[0] = ChatMessage.system(f"{result[0].content}\n\n{note}")
    else:
        result.insert(0, ChatMessage.system(note))
    return result


def _parse_call(text: str, tools: Sequence[ToolSpec]) -> ToolCall:
    try:
        call = json.loads(text)
        name, arguments = call["name"], call["arguments"]
    except (ValueError, KeyError, TypeError) as exc:
        # Only a cut-off generation gets here: the grammar admits nothing else.
        raise ModelError(f"The model's tool call was incomplete: {text[:200]!r}") from exc
    if name not in {t.name for t in tools} or not isinstance(arguments, dict):
        raise ModelError(f"The model called an undeclared tool {name!r}.")
    return ToolCall(f"call_{uuid.uuid4().hex[:12]}", name, arguments)
