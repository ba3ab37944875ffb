"""Serve an ASGI app over real loopback HTTP from a background thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


class LoopbackServer:
    """Serve an ASGI app on 127.0.0.1 (a free port) in a daemon thread.

    The socket is bound and listening before the thread starts, so the port is
    known at once and early connections wait in the backlog rather than fail.
    Accepted sockets inherit TCP_NODELAY; without it uvicorn's separate header
    and body writes meet delayed ACKs and each keep-alive request takes ~40 ms.
    """

    def __init__(self, app: Any, port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", port))  # a given port: the same server back after an outage
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"loopback-{self.port}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:  # readiness only; requests would queue anyway
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("loopback server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
