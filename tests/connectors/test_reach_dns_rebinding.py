"""A guarded request goes to the address its name was checked at: a name is looked up once.

The guards looked a host up, checked its addresses, then let the connection look it up again.
A name answering a public address to the check and a loopback one to the connection (DNS
rebinding, TTL 0) reached this machine's services. A plain-http request is now sent to the
address checked, under its name (the Host header); an https one keeps its name, since a second
answer pointing inside meets no certificate for the name and TLS fails before anything is sent.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from connectors import reach
from connectors.http import NO_RETRY, build_client
from connectors.reach import PrivateAddress, PublicOnlySyncTransport
from tests.support.loopback import LoopbackServer

NAME = "rebind.attacker.example"
PUBLIC = "93.184.215.14"


class Rebinding:
    """A resolver for NAME answering PUBLIC once, then 127.0.0.1 (other names as they are)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.lookups = 0
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return self._real(host, port, *args, **kwargs)
        self.lookups += 1
        ip = PUBLIC if self.lookups == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port or 80))]


class Recorder:
    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(200, json={"ok": True})


def test_a_blocking_fetch_goes_to_the_address_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    dns, server = Rebinding(monkeypatch), Recorder()
    with httpx.Client(transport=PublicOnlySyncTransport(httpx.MockTransport(server))) as http:
        assert http.get(f"http://{NAME}:8080/openapi.json").status_code == 200
    [sent] = server.sent
    assert (sent.url.host, sent.url.port, sent.headers["host"]) == (PUBLIC, 8080, f"{NAME}:8080")
    assert dns.lookups == 1


async def test_a_connection_request_goes_to_the_address_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    dns, server = Rebinding(monkeypatch), Recorder()
    async with build_client(
        f"http://{NAME}", public_only=True, retry=NO_RETRY, transport=httpx.MockTransport(server)
    ) as client:
        assert (await client.post("/api/orders", json={"n": 1})).status_code == 200
    [sent] = server.sent
    assert (sent.url.host, sent.url.path, sent.headers["host"]) == (PUBLIC, "/api/orders", NAME)
    assert sent.content == b'{"n":1}'
    assert dns.lookups == 1


async def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def two(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC, port or 80)),
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("10.0.0.7", port or 80)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two)
    server = Recorder()
    async with build_client(
        f"http://{NAME}", public_only=True, retry=NO_RETRY, transport=httpx.MockTransport(server)
    ) as client:
        with pytest.raises(PrivateAddress, match=r"10\.0\.0\.7"):
            await client.get("/x")
    assert server.sent == []


def test_an_https_request_keeps_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    Rebinding(monkeypatch)
    server = Recorder()
    with httpx.Client(transport=PublicOnlySyncTransport(httpx.MockTransport(server))) as http:
        http.get(f"https://{NAME}/openapi.json")
    [sent] = server.sent
    assert sent.url.host == NAME


async def test_a_pinned_request_reaches_the_server_under_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real transport (aiohttp), to a server that stands in for a public one here."""
    app = FastAPI()

    @app.post("/api/orders")
    async def orders(request: Request) -> dict[str, Any]:
        return {"host": request.headers.get("host"), "body": await request.json()}

    monkeypatch.setattr(reach, "_non_public", lambda ip: False)  # 127.0.0.1 stands in for a public address

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        assert host == NAME
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with LoopbackServer(app) as server:
        port = httpx.URL(server.url).port
        async with build_client(f"http://{NAME}:{port}", public_only=True, retry=NO_RETRY) as client:
            answer = (await client.post("/api/orders", json={"n": 1})).json()
    assert answer == {"host": f"{NAME}:{port}", "body": {"n": 1}}
