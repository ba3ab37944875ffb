"""Everything that goes wrong in the transport comes out as an httpx.TransportError: that is
what RetryTransport, CircuitBreakerTransport and `Connector.send` (-> ConnectorError) catch.
A request aiohttp would refuse with a ValueError (credentials in the URL beside httpx's
Authorization header, a header value with CR/LF) is sent or refused in httpx's terms."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.aio import AiohttpTransport
from tests.connectors.transport._raw import OK, Raw


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    server_heads.append(head)
    writer.write(OK)
    await writer.drain()


server_heads: list[bytes] = []


@pytest.mark.parametrize("make", [httpx.AsyncHTTPTransport, AiohttpTransport], ids=["httpx", "aiohttp"])
async def test_credentials_in_the_url_are_sent_as_basic_auth(make: type) -> None:
    """httpx turns `user:pw@` into an Authorization header and keeps the URL; aiohttp then sees
    both and raises ValueError('Cannot combine AUTHORIZATION header with ... credentials')."""
    server_heads.clear()
    async with Raw(_answer) as url, httpx.AsyncClient(transport=make()) as client:
        response = await client.get(url.replace("http://", "http://svc:s3cret@") + "/status")
    assert response.status_code == 200
    assert b"Authorization: Basic c3ZjOnMzY3JldA==" in server_heads[0]


@pytest.mark.parametrize("make", [httpx.AsyncHTTPTransport, AiohttpTransport], ids=["httpx", "aiohttp"])
async def test_a_header_value_with_a_line_break_fails_as_an_httpx_error(make: type) -> None:
    """A header built from outside input (a tool argument, a stored config value): httpx refuses
    it with LocalProtocolError, a TransportError; aiohttp's ValueError escapes the connector."""
    async with Raw(_answer) as url, httpx.AsyncClient(transport=make()) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(url + "/x", headers={"X-Customer": "a\r\nX-Injected: 1"})
