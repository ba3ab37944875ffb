"""The request goes out as httpx built it, byte for byte, also where aiohttp would change it
(an empty query, a header value that is not ASCII): httpx's own transport sends those."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.aio import AiohttpTransport
from tests.connectors.transport._raw import OK, Raw


async def _head_of(make: type, build) -> bytes:  # type: ignore[no-untyped-def]
    heads: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(OK)
        await writer.drain()

    transport = make()
    async with Raw(answer) as url, httpx.AsyncClient(transport=transport) as client:
        await client.send(build(url))
    await transport.aclose()
    return heads[0]


@pytest.mark.parametrize("make", [httpx.AsyncHTTPTransport, AiohttpTransport], ids=["httpx", "aiohttp"])
async def test_an_empty_query_keeps_its_question_mark(make: type) -> None:
    """yarl drops a bare `?`; a request target that is signed (HMAC over method + target) or
    compared byte for byte then differs from what httpx built."""
    head = await _head_of(make, lambda url: httpx.Request("GET", url + "/v1/items?"))
    assert head.startswith(b"GET /v1/items? HTTP/1.1\r\n")


@pytest.mark.parametrize("make", [httpx.AsyncHTTPTransport, AiohttpTransport], ids=["httpx", "aiohttp"])
async def test_header_bytes_are_sent_as_given(make: type) -> None:
    """httpx header values are bytes; the transport decodes them as latin-1 and aiohttp encodes
    them as UTF-8, so any byte >= 0x80 is sent as two (UTF-8 text is double-encoded)."""
    head = await _head_of(
        make, lambda url: httpx.Request("GET", url + "/x", headers={"X-Requester": "Zoë".encode()})
    )
    assert b"\r\nX-Requester: Zo\xc3\xab\r\n" in head
