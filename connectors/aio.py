"""The last hop of every connector request: an httpx transport over aiohttp.

httpx stays what connectors, auth flows and our transports speak (and `MockTransport` in
tests); only the bytes on the wire go through aiohttp, whose HTTP parser is C. On the worker,
httpcore's pure-Python HTTP/1.1 was the largest single cost of a ticket after the database:
about a quarter of the worker's CPU (py-spy on `bench` throughput, 32 runs at once on
PostgreSQL); with this transport the worker spent about a fifth less CPU per ticket there
(19 ms against 23-25 ms, interleaved runs on one machine).

A transport must keep httpx's meaning of each failure, because `RetryTransport` decides from
it whether a write may be sent again:

- nothing left this process (refused, DNS, TLS handshake, no connection in time):
  `ConnectError` / `ConnectTimeout`, which are retried;
- the request may have reached the system (the connection dropped or timed out after it was
  written, a broken answer): `ReadError` / `ReadTimeout` / `RemoteProtocolError`, which are
  retried only when repeating is safe; aiohttp's own resending of such requests is off.

The request goes out as httpx built it: the URL byte for byte (no re-quoting), only its
headers (aiohttp adds none of its own), no cookie jar, no redirects, no decompression
(httpx decodes the body as it would its own transport's); the answer's body is streamed.
What aiohttp cannot send that way goes through httpx's own transport (`AiohttpTransport`).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
from yarl import URL

KEEPALIVE_SECONDS = 5.0  # as httpx's own pool: idle connections are closed after this
MAX_HEADER_BYTES = 100 * 1024  # as httpcore reads
MAX_HEADERS = 1000
# A body this small sits in the socket's send buffer at once, so writing it cannot stall; a
# larger one goes through httpx's transport, which has a write timeout.
MAX_PLAIN_BODY = 64 * 1024
# aiohttp adds these unless told not to; httpx has already set what the request should carry.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


def as_httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """`exc`, raised by aiohttp for `request`, as the httpx error with the same meaning."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # no connection in time: nothing sent
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: nothing sent
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    if isinstance(
        exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)
    ):
        return httpx.RemoteProtocolError(message, request=request)
    return httpx.ReadError(message, request=request)  # reset, broken pipe, anything else: maybe sent


class _Body(httpx.AsyncByteStream):
    """The answer's body as it arrives (an event stream stays open), raw as sent."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request):
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise as_httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # the connection goes back to the pool
        else:
            self._response.close()  # unread bytes: the connection cannot be reused


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent through one aiohttp session per event loop (made on first use).

    What connectors send (small bodies, plain URLs and headers) goes through aiohttp. The rest
    goes through httpx's own transport, whose semantics aiohttp cannot give: a streamed or large
    body (aiohttp has no write timeout; a small body never waits on the socket, so it needs
    none), `Transfer-Encoding` set by httpx, credentials in the URL, an empty query (`/x?`,
    which aiohttp's URL drops) or a header value that is not UTF-8."""

    def __init__(self, *, verify: bool = True, max_connections: int = 100):
        self._ssl: ssl.SSLContext = httpx.create_ssl_context(verify=verify)
        self._max_connections = max_connections
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._lock = threading.Lock()
        self.fallback = httpx.AsyncHTTPTransport(
            verify=self._ssl, limits=httpx.Limits(max_connections=max_connections)
        )

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        with self._lock:  # one session per loop: threads sharing the transport each get their own
            session = self._sessions.get(loop)
            if session is None or session.closed:
                session = self._sessions[loop] = self._new_session()
                for other in [lp for lp in self._sessions if lp.is_closed()]:
                    _forget(self._sessions.pop(other))
        return session

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._ssl, limit=self._max_connections, keepalive_timeout=KEEPALIVE_SECONDS
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_NO_AUTO_HEADERS,
            auto_decompress=False,
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
            # httpcore reads a header block of up to 100 KiB: an answer with a long Link or CSP
            # header is an answer, not a failure (a write that went through must not look failed).
            max_line_size=MAX_HEADER_BYTES,
            max_field_size=MAX_HEADER_BYTES,
            max_headers=MAX_HEADERS,
        )
        # aiohttp sends a PUT or DELETE again by itself when the connection drops after it
        # was written; whether a request may be repeated is `RetryTransport`'s call alone
        # (Zendesk's PUT with a comment is not idempotent). No public switch exists.
        if not hasattr(session, "_retry_connection"):
            raise RuntimeError("this aiohttp cannot be told not to resend requests; pin aiohttp<4")
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = _plain_headers(request)
        if headers is None:
            return await self.fallback.handle_async_request(request)
        try:
            response = await self._session_here().request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=request.content or None,
                allow_redirects=False,
                timeout=_timeout(request.extensions.get("timeout") or {}),
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise as_httpx_error(exc, request) from exc
        except ValueError as exc:  # a request aiohttp will not write (a header it refuses)
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={
                "http_version": f"HTTP/{response.version.major}.{response.version.minor}".encode()
                if response.version
                else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )

    async def aclose(self) -> None:
        here = _running_loop()
        with self._lock:
            sessions, self._sessions = self._sessions, {}
        for loop, session in sessions.items():
            if loop is here:
                await session.close()
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(session.close(), loop)
            else:
                _forget(session)
        await self.fallback.aclose()


def _forget(session: aiohttp.ClientSession) -> None:
    """A session whose event loop has ended: nothing can await its close any more. Its
    connections are closed as far as a dead loop allows, and it is marked closed."""
    connector = session.connector
    if connector is not None and not connector.closed:
        for protocols in list(getattr(connector, "_conns", {}).values()):
            for protocol, _ in protocols:
                transport = getattr(protocol, "transport", None)
                sock = transport.get_extra_info("socket") if transport is not None else None
                if sock is not None:
                    sock.close()
        connector._close()


def _plain_headers(request: httpx.Request) -> list[tuple[str, str]] | None:
    """The request's headers as aiohttp takes them, when aiohttp can send the request exactly as
    httpx built it (see `AiohttpTransport`); None when httpx's own transport must."""
    if not isinstance(request.stream, httpx.ByteStream) or len(request.content) > MAX_PLAIN_BODY:
        return None
    url = request.url
    if url.userinfo or (url.raw_path.endswith(b"?") and not url.query):
        return None
    headers = []
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding":
            return None
        try:
            headers.append((name.decode("ascii"), value.decode("utf-8")))
        except UnicodeDecodeError:
            return None
    return headers


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _timeout(limits: dict[str, Any]) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts in aiohttp's terms: its `connect` covers waiting for a pooled
    connection and opening one (httpx's pool + connect); `sock_read` is httpx's read."""
    pool, connect = limits.get("pool"), limits.get("connect")
    waiting = None if pool is None or connect is None else pool + connect
    return aiohttp.ClientTimeout(
        total=None, connect=waiting, sock_connect=connect, sock_read=limits.get("read")
    )
