"""llama.cpp never takes the process's stderr: other threads' lines written while a model
loads are all there, and llama.cpp's own chatter goes to the log instead of the console."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama.cpp"),
]

# Runs in its own process: the old quiet mode redirected file descriptor 2 of the whole
# process, which pytest's own capture would hide. A second thread writes numbered lines
# straight to fd 2 (as uvicorn's access log or a warning would) while the bundled SmolLM2
# loads and answers; the log goes to stdout, so stderr should hold those lines and nothing
# else.
_SCRIPT = """
import json, logging, os, sys, threading, time
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s %(message)s")
from agents.models.local import bundled_gguf
from agents.models.local.llama_cpp_runtime import LlamaCppRuntime
from agents.models.local.runtime import Sampling

gguf = bundled_gguf()
loading, stop = threading.Event(), threading.Event()
written, during_load = [], []

def write_lines():
    while not stop.is_set():
        number = len(written)
        os.write(2, f"line {number} from another thread\\n".encode())
        written.append(number)
        if loading.is_set():
            during_load.append(number)
        time.sleep(0.001)

writer = threading.Thread(target=write_lines)
writer.start()
loading.set()
runtime = LlamaCppRuntime(gguf, 512)
loading.clear()
text = []
runtime.generate(
    [{"role": "user", "content": "Name three colors."}],
    Sampling(max_tokens=8, temperature=0.0, top_p=1.0),
    text.append,
    threading.Event(),
)
stop.set()
writer.join()
print("RESULT " + json.dumps({"written": len(written), "during_load": len(during_load),
                              "text": "".join(text)}), flush=True)
"""


def test_lines_written_to_stderr_while_a_model_loads_are_kept() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (found,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(found.removeprefix("RESULT "))
    assert result["during_load"] > 0  # the writer really ran while llama.cpp loaded
    assert result["text"].strip()  # and the model answered

    lines = done.stderr.splitlines()
    expected = [f"line {n} from another thread" for n in range(result["written"])]
    assert lines == expected  # every line kept, in order, and nothing else on stderr

    log = done.stdout
    assert "llama.cpp llama_model_loader: loaded meta data" in log  # llama.cpp's own log
    assert "llama.cpp Model metadata:" in log  # llama-cpp-python's prints
    assert "llama.cpp llama_perf_context_print:" in log  # timings after a generation
