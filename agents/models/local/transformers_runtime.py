"""Hugging Face transformers: the GPU path, and the CPU fallback without llama.cpp."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.errors import ModelError
from agents.models.base import FinishReason
from agents.models.local.runtime import Generated, Sampling

log = logging.getLogger(__name__)


def cuda_available() -> bool:
    """Whether torch can see a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


CHECKSUMS = "SHA256SUMS"
"""Inside a converted folder: `sha256  name` for every file written at conversion."""
_BLOCK = 8 << 20


def converted_weights(gguf: Path, cache_dir: Path) -> Path:
    """Dequantize the GGUF into a transformers checkpoint once, and reuse it afterwards.

    Loading a GGUF with transformers dequantizes every tensor (about a minute on 2 cores);
    the converted safetensors load in about a second. No one publishes sums of the converted
    files, so the sha256 of each is recorded when it is made (from the verified GGUF) and
    checked at every call; a folder that no longer matches, or has no record (made before
    records were kept), is discarded and converted again.
    """
    target = cache_dir / f"{gguf.stem}.transformers"
    if target.is_dir():
        problem = cached_weights_problem(target)
        if problem is None:
            return target
        log.warning("%s: %s; discarding it and converting %s again", target, problem, gguf.name)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("Converting %s for transformers (once)", gguf.name)
    partial = cache_dir / f"{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    # B615 (no Hub revision pin) does not apply: these are local folders of verified files,
    # and nothing is downloaded (HF_HUB_OFFLINE; the bundled GGUF is checked by sha256).
    source = str(gguf.parent)
    tokenizer: Any = AutoTokenizer.from_pretrained(source, gguf_file=gguf.name)  # nosec B615
    model: Any = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf.name)  # nosec B615
    # The weights are plain floats now; drop the GGUF marker so they can be saved as such.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    record_checksums(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def record_checksums(folder: Path) -> None:
    """Write `folder`'s SHA256SUMS: the sha256 of every file in it (subfolders included)."""
    lines = [f"{_sha256(path)}  {name}\n" for name, path in _files(folder).items()]
    (folder / CHECKSUMS).write_text("".join(lines), encoding="utf-8")


def cached_weights_problem(folder: Path) -> str | None:
    """What is wrong with a converted folder, or None when every file is as recorded.

    Every file must be listed in SHA256SUMS with its current sha256, and no file may be
    missing or added (transformers reads whatever the folder holds).
    """
    record = folder / CHECKSUMS
    if not record.is_file():
        return "no checksums were recorded when it was converted"
    expected: dict[str, str] = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            return f"{CHECKSUMS} is not a list of sha256 sums"
        expected[name] = digest
    found = _files(folder)
    if missing := sorted(expected.keys() - found.keys()):
        return f"{missing[0]} is missing"
    if added := sorted(found.keys() - expected.keys()):
        return f"{added[0]} was added after it was converted"
    for name, path in found.items():
        if (digest := _sha256(path)) != expected[name]:
            return f"{name} has sha256 {digest[:12]}…, not the {expected[name][:12]}… recorded"
    return None


def _files(folder: Path) -> dict[str, Path]:
    """Every file under `folder` but the record, by its POSIX path relative to `folder`."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path != folder / CHECKSUMS
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class TransformersRuntime:
    """A causal LM run by transformers on the CPU or a CUDA GPU."""

    name = "transformers"
    constrained = False

    def __init__(self, gguf: Path, cache_dir: Path, device: str, context_window: int) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError(
                "transformers and torch are needed: `pip install transformers`."
            ) from exc
        weights = converted_weights(gguf, cache_dir)
        self.device = device
        # A local folder converted from the verified GGUF, never the Hub: B615 does not apply.
        folder = str(weights)
        self._tokenizer: Any = AutoTokenizer.from_pretrained(folder)  # nosec B615
        if not self._tokenizer.chat_template:
            raise ModelError(f"{gguf.name} has no chat template.")
        dtype = torch.float16 if device == "cuda" else torch.float32
        model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)  # nosec B615
        self._model = model.to(device).eval()
        self.context_window = context_window

    def count(self, text: str) -> int:
        """Tokens in `text`."""
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def tail(self, text: str, max_tokens: int) -> str:
        """The last `max_tokens` tokens of `text`."""
        ids = self._tokenizer.encode(text, add_special_tokens=False)
        return str(self._tokenizer.decode(ids[-max_tokens:]))

    def generate(
        self,
        messages: list[dict[str, str]],
        sampling: Sampling,
        emit: Callable[[str], None],
        cancel: threading.Event,
    ) -> Generated:
        """Generate with the tokenizer's chat template, emitting text as it decodes."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

        class _Emitter(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if text:
                    emit(text)

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

        encoded = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        input_ids = encoded["input_ids"].to(self.device)
        prompt_len = int(input_ids.shape[1])
        room = self.context_window - prompt_len
        if room <= 0:
            raise ModelError("The conversation does not fit the model's context window.")
        sample = sampling.temperature > 0
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            output = self._model.generate(
                input_ids=input_ids,
                attention_mask=encoded["attention_mask"].to(self.device),
                max_new_tokens=min(sampling.max_tokens, room),
                do_sample=sample,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None,
                repetition_penalty=sampling.repeat_penalty,
                stop_strings=list(sampling.stop) or None,
                tokenizer=self._tokenizer,
                streamer=_Emitter(self._tokenizer, skip_prompt=True, skip_special_tokens=True),
                stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                pad_token_id=self._tokenizer.eos_token_id,
            )
        produced = int(output.shape[1]) - prompt_len
        finish: FinishReason = "stop"
        if cancel.is_set():
            finish = "cancelled"
        elif produced >= min(sampling.max_tokens, room):
            finish = "length"
        return Generated(prompt_len, produced, finish)
