"""The suite itself must never reach beyond loopback.

Two layers: the Python socket guard (tests/netguard/sitecustomize.py, in this process and
every test server) and, where `make test` could make one, a network namespace with only
loopback (tests/netguard/isolated), which also holds native code, uvloop, DNS, UDP and
subprocesses started without the guard.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.chainlit_client import ChainlitClient
from tests.support.server import cadre_server

IN_NAMESPACE = os.environ.get("CADRE_TEST_NETNS") == "1"
OUTSIDE = "93.184.216.34"  # a public address (example.com's, once); never reached


def test_non_loopback_connections_are_refused() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(ConnectionRefusedError, match="loopback"),
    ):
        sock.connect((OUTSIDE, 80))


def test_loopback_connections_are_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.connect(server.getsockname())


# Run without the Python guard (no tests/netguard on PYTHONPATH): what a native library,
# uvloop's C connect or a subprocess nobody guarded would do.
_UNGUARDED = textwrap.dedent(
    f"""
    import asyncio, errno, json, socket, sys
    import uvloop

    assert not getattr(socket.socket, "_cadre_guarded", False), "the Python guard is on"
    results = {{}}

    async def via_uvloop():
        try:
            await asyncio.wait_for(asyncio.open_connection("{OUTSIDE}", 80), 20)
            return "connected"
        except OSError as exc:
            return errno.errorcode.get(exc.errno, str(exc))
        except asyncio.TimeoutError:
            return "timeout"

    results["uvloop_tcp"] = uvloop.run(via_uvloop())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"x", ("{OUTSIDE}", 53))
        results["udp"] = "sent"
    except OSError as exc:
        results["udp"] = errno.errorcode.get(exc.errno, str(exc))
    try:
        socket.getaddrinfo("example.com", 80)
        results["dns"] = "resolved"
    except OSError as exc:
        results["dns"] = "failed"
    # Loopback still works without the guard.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname(), timeout=5)
    results["loopback"] = "connected"
    print(json.dumps(results))
    """
)


@pytest.mark.skipif(
    not IN_NAMESPACE,
    reason="not inside a network namespace (make test makes one where the machine allows; "
    "tests/netguard/isolated prints why not)",
)
def test_unguarded_native_code_reaches_nothing_beyond_loopback() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _UNGUARDED],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", "")},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    # ENETUNREACH at once: the kernel has no route, so not a single packet was sent.
    assert results == {
        "uvloop_tcp": "ENETUNREACH",
        "udp": "ENETUNREACH",
        "dns": "failed",
        "loopback": "connected",
    }


@pytest.mark.slow  # a server start
@pytest.mark.skipif(
    not IN_NAMESPACE,
    reason="not inside a network namespace (make test makes one where the machine allows; "
    "tests/netguard/isolated prints why not)",
)
async def test_cadre_serve_without_the_python_guard_reaches_nothing_beyond_loopback(
    tmp_path: Path,
) -> None:
    # The real server, on uvloop, with the Python guard off (its folder not on PYTHONPATH)
    # and a provider configured at an outside address: its request to that provider goes
    # through httpx and uvloop's C connect, and the kernel refuses it before any packet.
    with cadre_server(
        tmp_path / "data",
        PYTHONPATH="",
        CADRE_OPENAI_BASE_URL=f"http://{OUTSIDE}/v1",
        CADRE_OPENAI_API_KEY="sk-never-sent",
        CADRE_CHAT_MODEL="openai:gpt-4o-mini",
    ) as server:
        chat = ChainlitClient(server.url)
        await chat.connect()
        try:
            said = chat.answers(await chat.ask("What is the capital of France?"))
        finally:
            await chat.close()
        # The person hears the provider could not be reached; the log shows why: no route.
        assert any("could not be reached" in answer for answer in said), said
        await server.logged("Network is unreachable")
        assert "loopback" not in server.log_text()  # not the Python guard's refusal
