"""The aiohttp transport, against a raw loopback server that sees the very bytes sent.

What `RetryTransport` decides from must keep httpx's meaning: a failure before anything was
sent is retried, one after the request may have reached the system is not (for a write).
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import httpx
import pytest

from connectors.aio import AiohttpTransport, as_httpx_error
from connectors.http import NOT_IDEMPOTENT, RetryPolicy, build_client

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """Reads each request (head and Content-Length body) and lets `handler` answer it."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[bytes] = []
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                await self.handler(request, writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def answer(status: int, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def ok(body: bytes = b"{}", *headers: str) -> Handler:
    async def handle(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(200, body, "Content-Type: application/json", *headers))
        await writer.drain()

    return handle


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    t = AiohttpTransport()
    yield t
    await t.aclose()


async def test_the_request_goes_out_as_httpx_built_it(transport: AiohttpTransport) -> None:
    server = RawServer(ok(b'{"id": 1}'))
    async with server as url, httpx.AsyncClient(transport=transport, base_url=url) as client:
        response = await client.post(
            "/a%2Fb/c|d?q=x%20y&ids=1|2",
            content=b"raw",
            headers={"X-Thing": "1", "User-Agent": "switchboard/test"},
        )
    assert response.status_code == 200 and response.json() == {"id": 1}
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /a%2Fb/c|d?q=x%20y&ids=1|2 HTTP/1.1"  # not re-quoted
    names = sorted(line.split(b":")[0].lower() for line in lines[1:])
    # httpx's headers and nothing else: no Content-Type for raw bytes, no aiohttp User-Agent
    assert names == sorted([b"host", b"accept", b"accept-encoding", b"connection", b"user-agent",
                            b"x-thing", b"content-length"])  # fmt: skip
    assert b"User-Agent: switchboard/test" in head and body == b"raw"


async def test_a_gzipped_answer_is_decoded_by_httpx_and_headers_kept(transport: AiohttpTransport) -> None:
    packed = gzip.compress(b'{"ok": true}')
    server = RawServer(ok(packed, "Content-Encoding: gzip", "Set-Cookie: s=1", "X-Dup: a", "X-Dup: b"))
    async with server as url, httpx.AsyncClient(transport=transport, base_url=url) as client:
        response = await client.get("/x")
        await client.get("/y")
    assert response.json() == {"ok": True}
    assert response.headers.get_list("x-dup") == ["a", "b"]
    assert response.reason_phrase == "Whatever" and response.http_version == "HTTP/1.1"
    assert server.connections == 1  # the connection was kept alive and reused


async def test_a_redirect_is_returned_not_followed(transport: AiohttpTransport) -> None:
    server = RawServer(ok())

    async def redirect(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(302, b"", "Location: http://127.0.0.1:1/elsewhere"))
        await writer.drain()

    server.handler = redirect
    async with server as url, httpx.AsyncClient(transport=transport, base_url=url) as client:
        response = await client.get("/x")
    assert response.status_code == 302 and len(server.requests) == 1


async def test_a_streamed_answer_arrives_before_it_ends(transport: AiohttpTransport) -> None:
    release = asyncio.Event()

    async def events(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(b"8\r\ndata: 1\n\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"8\r\ndata: 2\n\r\n0\r\n\r\n")
        await writer.drain()

    async with (
        RawServer(events) as url,
        httpx.AsyncClient(transport=transport, base_url=url) as client,
        client.stream("GET", "/events") as response,
    ):
        chunks = response.aiter_raw()
        assert await asyncio.wait_for(chunks.__anext__(), 5) == b"data: 1\n"  # the server still holds
        release.set()
        assert [c async for c in chunks] == [b"data: 2\n"]


async def test_a_refused_connection_is_not_sent_and_retried(transport: AiohttpTransport) -> None:
    async with RawServer(ok()) as url:
        pass  # closed: the port now refuses
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(transport=transport, base_url=url) as client:
            await client.post("/x", content=b"{}")


async def test_a_dropped_write_is_maybe_sent_and_never_repeated() -> None:
    """The server reads the POST and hangs up: it may have acted, so it is not sent again."""

    async def hang_up(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = RawServer(hang_up)
    sleeps: list[float] = []

    async def no_wait(seconds: float) -> None:
        sleeps.append(seconds)

    async with server as url:
        client = build_client(url, retry=RetryPolicy(max_attempts=4, sleep=no_wait))
        async with client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post("/refunds", json={"amount": 100})
            with pytest.raises(httpx.RemoteProtocolError):  # a PUT that adds a comment each time
                await client.put("/tickets/1", json={"comment": "hi"}, extensions=NOT_IDEMPOTENT)
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/refunds/1")  # a read is safe to repeat: tried four times
    sent = [r.split(b" ")[0] for r in server.requests]
    assert sent == [b"POST", b"PUT", b"GET", b"GET", b"GET", b"GET"]


async def test_a_read_timeout_is_maybe_sent(transport: AiohttpTransport) -> None:
    async def silent(request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with RawServer(silent) as url, httpx.AsyncClient(transport=transport, base_url=url) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/x", timeout=httpx.Timeout(5, read=0.2))


async def test_waiting_for_a_pooled_connection_too_long_is_not_sent() -> None:
    """One connection allowed, held by a request the server never answers: the second request
    gives up before it has a connection, so it never left and may be retried."""
    transport = AiohttpTransport(max_connections=1)

    async def silent(request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server = RawServer(silent)
    async with server as url, httpx.AsyncClient(transport=transport, base_url=url) as client:
        first = asyncio.create_task(client.get("/held", timeout=10))
        await asyncio.sleep(0.1)
        with pytest.raises(httpx.ConnectTimeout):
            await client.post("/x", timeout=httpx.Timeout(10, pool=0.1, connect=0.1))
        first.cancel()
    await transport.aclose()
    assert [r.split(b" ")[1] for r in server.requests] == [b"/held"]


def test_each_aiohttp_failure_keeps_its_httpx_meaning() -> None:
    request = httpx.Request("POST", "http://example.test/x")
    key = aiohttp.client_reqrep.ConnectionKey("example.test", 80, False, True, None, None, None)
    cases: list[tuple[BaseException, type[httpx.TransportError]]] = [
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (TimeoutError(), httpx.ReadTimeout),
        (aiohttp.ClientConnectorError(key, OSError(111, "refused")), httpx.ConnectError),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("truncated"), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
    ]
    for exc, expected in cases:
        assert type(as_httpx_error(exc, request)) is expected, exc


async def test_one_transport_serves_each_event_loop_it_is_used_in() -> None:
    """Clients are built before the loop that uses them (the worker's pool, the CLI)."""
    transport = AiohttpTransport()

    async def fetch() -> int:
        async with RawServer(ok()) as url:
            response = await transport.handle_async_request(httpx.Request("GET", url + "/x"))
            await response.aread()
            return response.status_code

    assert await fetch() == 200
    assert await asyncio.to_thread(lambda: asyncio.run(fetch())) == 200  # another loop and thread
    await transport.aclose()
