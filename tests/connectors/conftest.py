"""Fixtures for connector tests: simulators served over real loopback HTTP.

One uvicorn server runs in a background thread for the session, on a free port.
`serve_asgi(app)` mounts an ASGI app on it under a fresh prefix and returns that
base URL, exactly as the demo mounts simulators under /sim/<name>/ - so every
test also covers the mounted case. Mounts are removed when the test ends.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.routing import Mount, Router

from connectors.helpdesk.client import HelpdeskConnector
from connectors.helpdesk.simulator import HelpdeskState, create_app
from connectors.http import RetryPolicy, build_client


@contextmanager
def run_uvicorn(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a daemon thread on a free loopback port; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY; without it uvicorn's separate header and body
    # writes meet delayed ACKs and every keep-alive request takes ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def loopback_server() -> Iterator[tuple[Router, str]]:
    router = Router()
    with run_uvicorn(router) as url:
        yield router, url


_prefixes = itertools.count(1)


@pytest.fixture
def serve_asgi(loopback_server: tuple[Router, str]) -> Iterator[Callable[[Any], str]]:
    """`serve_asgi(app) -> base_url`: the app answers over real HTTP at that URL."""
    router, url = loopback_server
    mounts: list[Mount] = []

    def serve(app: Any) -> str:
        mount = Mount(f"/t{next(_prefixes)}", app=app)
        router.routes.append(mount)
        mounts.append(mount)
        return url + mount.path

    yield serve
    for mount in mounts:
        router.routes.remove(mount)


@dataclass
class FakeSleep:
    """Records the delays it was asked for instead of waiting; `then` runs after each."""

    delays: list[float] = field(default_factory=list)
    then: Callable[[], Any] | None = None

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.then is not None:
            self.then()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture(scope="session")
def sync_transport() -> Iterator[httpx.HTTPTransport]:
    """One transport for the tests' own plain-HTTP reads (a new one per call costs ~20 ms)."""
    transport = httpx.HTTPTransport()
    yield transport
    transport.close()


@dataclass
class Sim:
    """A simulator being served: its app (for in-process state) and a plain client on its URL."""

    app: FastAPI
    url: str
    http: httpx.Client

    @property
    def state(self) -> HelpdeskState:
        state: HelpdeskState = self.app.state.helpdesk
        return state

    def faults(self, **settings: Any) -> dict[str, Any]:
        """Set faults through the simulator's own control endpoint."""
        response = self.http.post("/_faults", json=settings)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def fault_stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.http.get("/_faults").json()
        return result

    def get(self, path: str) -> Any:
        """Read something back the way Zendesk shows it."""
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def make_sim(serve_asgi: Callable[[Any], str], sync_transport: httpx.HTTPTransport) -> Callable[..., Sim]:
    """`make_sim(app=None, **create_app_kwargs)`: serve a help-desk simulator (or any app)."""

    def make(app: Any = None, **kwargs: Any) -> Sim:
        app = app if app is not None else create_app(**kwargs)
        url = serve_asgi(app)
        return Sim(app=app, url=url, http=httpx.Client(base_url=url, transport=sync_transport))

    return make


@pytest.fixture
def helpdesk_sim(make_sim: Callable[..., Sim]) -> Sim:
    """A freshly seeded help-desk simulator over loopback HTTP."""
    return make_sim()


def retry_policy(sleep: FakeSleep, **overrides: Any) -> RetryPolicy:
    """A deterministic policy: no jitter, fake sleep."""
    return RetryPolicy(**{"jitter": 0.0, "sleep": sleep, **overrides})


@pytest.fixture
async def helpdesk(helpdesk_sim: Sim, fake_sleep: FakeSleep) -> AsyncIterator[HelpdeskConnector]:
    client = build_client(helpdesk_sim.url, retry=retry_policy(fake_sleep), timeout=5.0)
    connector = HelpdeskConnector(client)
    yield connector
    await connector.aclose()
