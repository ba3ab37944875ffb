"""Answers with header lines over 8190 bytes or more than 128 headers are read, as httpcore reads
header blocks up to 100 KB (long `Link` pagination headers, `Content-Security-Policy`, big
`Set-Cookie`s). Refusing one would raise after the system answered: a refund that went
through would be reported as failed (and a GET sent four times)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.aio import AiohttpTransport
from connectors.http import RetryPolicy, build_client
from tests.connectors.transport._raw import Raw


def _answer_with(extra_headers: bytes):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            server.seen.append(head.split(b"\r\n")[0])
            writer.write(
                b"HTTP/1.1 201 Created\r\nContent-Length: 11\r\n" + extra_headers + b'\r\n{"id": "1"}'
            )
            await writer.drain()

    server = Raw(handle)
    return server


LONG_LINK = (
    b"Link: "
    + b", ".join(b'<https://api.example.test/v1/items?page=%d>; rel="page"' % i for i in range(200))
    + b"\r\n"
)
MANY = b"".join(b"X-Trace-%d: v\r\n" % i for i in range(150))


@pytest.mark.parametrize("extra", [LONG_LINK, MANY], ids=["a-12KB-header", "150-headers"])
@pytest.mark.parametrize("make", [httpx.AsyncHTTPTransport, AiohttpTransport], ids=["httpx", "aiohttp"])
async def test_an_answer_httpx_reads_is_read(make: type, extra: bytes) -> None:
    server = _answer_with(extra)
    async with server as url:
        client = build_client(url, transport=make(), retry=RetryPolicy(max_attempts=4, sleep=_no_wait))
        async with client:
            response = await client.post("/refunds", json={"charge": "ch_1", "amount": 100})
    assert response.status_code == 201 and response.json() == {"id": "1"}
    assert server.seen == [b"POST /refunds HTTP/1.1"]


async def _no_wait(seconds: float) -> None:
    return None
