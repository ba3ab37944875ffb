"""A guarded plain-http request to a name with several public addresses reaches it when one
of them does not answer.

A guarded plain-http request is sent to an address its name was checked at (DNS rebinding);
when no connection can be made to it (nothing was sent), the name's next checked address is
tried, as the connection layer (aiohttp, httpcore) itself tries a name's addresses in turn: a
round-robin or dual-stack API with one dead address still answers. A request that reached an
address and failed after is not sent to another.

The inner transport here stands for the connection layer: asked for the dead address it cannot
connect.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from connectors.http import RetryPolicy, build_client

NAME = "api.round-robin.example"
DEAD, LIVE = "93.184.215.14", "93.184.215.15"


@pytest.fixture(autouse=True)
def two_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port or 80))
            for ip in (DEAD, LIVE)
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def connection_layer(request: httpx.Request) -> httpx.Response:
    if request.url.host == DEAD:
        raise httpx.ConnectError("[Errno 113] No route to host", request=request)
    return httpx.Response(200, json={"ok": True})  # the name, or the live address


async def test_a_name_with_one_dead_address_is_still_reached() -> None:
    client = build_client(
        f"http://{NAME}",
        transport=httpx.MockTransport(connection_layer),
        public_only=True,
        retry=RetryPolicy(max_attempts=3, backoff_initial=0.0),
    )
    async with client:
        r = await client.get("/v1/things")
    assert r.status_code == 200


async def test_a_request_that_reached_an_address_is_not_sent_to_another() -> None:
    sent: list[str] = []

    def dropped_after_sending(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.host)
        raise httpx.ReadError("connection reset after the request was written", request=request)

    client = build_client(
        f"http://{NAME}",
        transport=httpx.MockTransport(dropped_after_sending),
        public_only=True,
        retry=RetryPolicy(max_attempts=1),
    )
    async with client:
        with pytest.raises(httpx.ReadError):
            await client.post("/v1/things", json={"n": 1})
    assert sent == [DEAD]
