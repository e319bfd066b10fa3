"""Refuse every socket connection beyond loopback, in the test process and its servers.

Test servers run as subprocesses with this folder on PYTHONPATH, so Python imports this
module at start-up and the same rule holds inside them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


def is_loopback(address: Any) -> bool:
    """Whether a socket address stays on this machine."""
    if not isinstance(address, tuple) or not address:
        return True  # Unix sockets and the like never leave the machine
    host = str(address[0])
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # any other host name would need DNS: refuse it


def _guard(connect: Any) -> Any:
    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
            raise ConnectionRefusedError(f"tests may only reach loopback, not {address!r}")
        return connect(self, address)

    return guarded


if not getattr(socket.socket, "_cadre_guarded", False):
    socket.socket.connect = _guard(socket.socket.connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = _guard(socket.socket.connect_ex)  # type: ignore[method-assign]
    socket.socket._cadre_guarded = True  # type: ignore[attr-defined]
