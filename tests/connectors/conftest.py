"""Fixtures for connector tests: simulators served over real loopback HTTP.

One uvicorn server runs in a background thread for the session, on a free port.
`serve_asgi(app)` mounts an ASGI app on it under a fresh prefix and returns that
base URL, exactly as the demo mounts simulators under /sim/<name>/ - so every
test also covers the mounted case. Mounts are removed when the test ends.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount, Router

from connectors.helpdesk.client import HelpdeskConnector
from connectors.helpdesk.simulator import HelpdeskState, create_app
from connectors.http import RetryPolicy, build_client
from tests.support.loopback import LoopbackServer


@contextmanager
def run_uvicorn(app: Any) -> Iterator[str]:
    """Serve `app` over real loopback HTTP for the duration of the block; yield its URL."""
    with LoopbackServer(app) as server:
        yield server.url


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


class SchemaCalls:
    """How many schema objects the OpenAPI importer built (calls of `_Resolver.schema`)."""

    def __init__(self) -> None:
        self.built = 0


@pytest.fixture
def schema_calls(monkeypatch: pytest.MonkeyPatch) -> SchemaCalls:
    from connectors.openapi import importer

    calls = SchemaCalls()
    schema = importer._Resolver.schema

    def counted(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.built += 1
        return schema(self, *args, **kwargs)

    monkeypatch.setattr(importer._Resolver, "schema", counted)
    return calls
