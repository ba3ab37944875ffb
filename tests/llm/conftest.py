"""Fixtures: one loopback fake per vendor for the session, reset for every test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic._base_client
import anyio
import openai._base_client
import pytest

from tests.llm.vendor_servers import FakeAnthropic, FakeOpenAI
from tests.support.loopback import LoopbackServer


@pytest.fixture(scope="session")
def _anthropic_server() -> Iterator[tuple[FakeAnthropic, LoopbackServer]]:
    fake = FakeAnthropic()
    with LoopbackServer(fake.app) as server:
        yield fake, server


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[tuple[FakeOpenAI, LoopbackServer]]:
    fake = FakeOpenAI()
    with LoopbackServer(fake.app) as server:
        yield fake, server


@pytest.fixture
def fake_anthropic(_anthropic_server: tuple[FakeAnthropic, LoopbackServer]) -> FakeAnthropic:
    fake, _ = _anthropic_server
    fake.reset()
    return fake


@pytest.fixture
def anthropic_url(_anthropic_server: tuple[FakeAnthropic, LoopbackServer]) -> str:
    return _anthropic_server[1].url


@pytest.fixture
def fake_openai(_openai_server: tuple[FakeOpenAI, LoopbackServer]) -> FakeOpenAI:
    fake, _ = _openai_server
    fake.reset()
    return fake


@pytest.fixture
def openai_url(_openai_server: tuple[FakeOpenAI, LoopbackServer]) -> str:
    # OpenAI-compatible servers are addressed by their /v1 root.
    return _openai_server[1].url + "/v1"


class _RecordingAnyio:
    """Stands in for `anyio` inside the SDKs' retry loop: records each backoff, waits none."""

    def __init__(self, sleeps: list[float]) -> None:
        self._sleeps = sleeps

    async def sleep(self, delay: float, *args: Any, **kwargs: Any) -> None:
        self._sleeps.append(delay)
        await anyio.sleep(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(anyio, name)


@pytest.fixture
def retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the SDKs chose between retries, without waiting them out.

    Both SDKs treat `retry-after: 0` as "no advice" and fall back to 0.5s+
    exponential backoff, so real waits would make fault tests slow; recording
    them instead also lets tests check the server's retry-after was honoured.
    Patches only the SDK modules' `anyio` name (their sole use is this sleep).
    """
    sleeps: list[float] = []
    shim = _RecordingAnyio(sleeps)
    monkeypatch.setattr(anthropic._base_client, "anyio", shim)
    monkeypatch.setattr(openai._base_client, "anyio", shim)
    return sleeps
