"""A request body httpx streams (an async iterator: uploads, proxied bodies) goes out as httpx
sends it, with `Transfer-Encoding: chunked` and chunk framing, never with a Content-Length
beside it (RFC 9112 6.3: a message with both is read differently by each hop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import h11
import httpx

from connectors.aio import AiohttpTransport
from tests.connectors.transport._raw import OK, Raw, read_all_for


async def _body(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _send(transport: httpx.AsyncBaseTransport, *parts: bytes) -> bytes:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.seen.append(await read_all_for(reader, 0.3))
        writer.write(OK)
        await writer.drain()

    server = Raw(handle)
    async with server as url, httpx.AsyncClient(transport=transport) as client:
        await client.post(url + "/upload", content=_body(*parts))
    await transport.aclose()
    return server.seen[0]


def _as_a_server_reads_it(raw: bytes) -> bytes | str:
    """The body as an HTTP/1.1 server (h11, as under uvicorn) reads the request, or why it cannot."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    body = b""
    try:
        while not isinstance(event := conn.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                return f"still waiting for the body after {body!r}"
            if isinstance(event, h11.Data):
                body += event.data
    except h11.RemoteProtocolError as exc:
        return f"rejected: {exc}"
    return body


def test_httpx_own_transport_for_reference() -> None:
    raw = asyncio.run(_send(httpx.AsyncHTTPTransport(), b"hello", b"world"))
    assert raw.endswith(b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")
    assert _as_a_server_reads_it(raw) == b"helloworld"


async def test_a_streamed_body_is_framed_one_way_only() -> None:
    raw = await _send(AiohttpTransport(), b"hello", b"world")
    head = raw.partition(b"\r\n\r\n")[0].lower()
    assert not (b"\r\ntransfer-encoding: chunked" in head and b"\r\ncontent-length:" in head), raw


async def test_a_server_reads_the_streamed_body_that_was_sent() -> None:
    raw = await _send(AiohttpTransport(), b"hello", b"world")
    assert _as_a_server_reads_it(raw) == b"helloworld"  # h11: "helloworld" is no chunk size


async def test_an_empty_streamed_body_ends_its_message() -> None:
    """httpx sends the last-chunk `0\\r\\n\\r\\n`; without it a server honouring the
    Transfer-Encoding waits for the rest of the body until a timeout (a POST then 'maybe sent')."""
    raw = await _send(AiohttpTransport())
    assert _as_a_server_reads_it(raw) == b"", raw
