"""A worker's own metrics port listens on the address SWITCHBOARD_METRICS_ADDR names.

The port asks for no token, so an operator keeps it to this machine (127.0.0.1) or a private
interface; a scrape from another address then never reaches it.
"""

from __future__ import annotations

import socket

import httpx

from app.config import Settings
from app.observability.metrics import serve_metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_worker_serves_its_metrics_on_the_address_it_is_given() -> None:
    port = _free_port()
    settings = Settings(SWITCHBOARD_METRICS_PORT=port, SWITCHBOARD_METRICS_ADDR="127.0.0.1")
    assert serve_metrics(settings.metrics_port, settings.metrics_addr)
    assert "switchboard_" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    listening = [c for c in _listeners() if c[1] == port]
    assert listening and all(addr == "0100007F" for addr, _ in listening)  # 127.0.0.1, nothing else


def _listeners() -> list[tuple[str, int]]:
    """(address, port) of this machine's IPv4 TCP listeners, from /proc/net/tcp."""
    found = []
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                addr, port = local.split(":")
                found.append((addr, int(port, 16)))
    return found
