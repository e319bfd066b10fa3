"""llama.cpp's AMX weight buffers stay off on CPUs that advertise AMX (they crash there)."""

from __future__ import annotations

from pathlib import Path

from agents.models.local.llama_cpp_runtime import cpu_has_amx

SAPPHIRE = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile amx_int8\n\n"
ZEN4 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n\n"


def test_amx_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    (tmp_path / "sapphire").write_text(SAPPHIRE)
    (tmp_path / "zen4").write_text(ZEN4)
    assert cpu_has_amx(tmp_path / "sapphire")
    assert not cpu_has_amx(tmp_path / "zen4")
    assert not cpu_has_amx(tmp_path / "missing")  # not Linux: nothing to read, nothing off
