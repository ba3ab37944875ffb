"""The last hop of every connector request: an httpx transport over aiohttp.

httpx stays what connectors, auth flows and our transports speak (and `MockTransport` in
tests); only the bytes on the wire go through aiohttp, whose HTTP parser is C. On the worker,
httpcore's pure-Python HTTP/1.1 was the largest single cost of a ticket after the database
(see the README's performance notes for the figures).

A transport must keep httpx's meaning of each failure, because `RetryTransport` decides from
it whether a write may be sent again:

- nothing left this process (refused, DNS, TLS handshake, no connection in time):
  `ConnectError` / `ConnectTimeout`, which are retried;
- the request may have reached the system (the connection dropped or timed out after it was
  written, a broken answer): `ReadError` / `ReadTimeout` / `RemoteProtocolError`, which are
  retried only when repeating is safe; aiohttp's own resending of such requests is off.

The request goes out as httpx built it: the URL byte for byte (no re-quoting), only its
headers (aiohttp adds none of its own), no cookie jar, no redirects, no decompression
(httpx decodes the body as it would its own transport's).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
from yarl import URL

KEEPALIVE_SECONDS = 5.0  # as httpx's own pool: idle connections are closed after this
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
    """httpx requests sent through one aiohttp session per event loop (made on first use)."""

    def __init__(self, *, verify: bool = True, max_connections: int = 100):
        self._ssl: ssl.SSLContext = httpx.create_ssl_context(verify=verify)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl, limit=self._max_connections, keepalive_timeout=KEEPALIVE_SECONDS
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=_NO_AUTO_HEADERS,
                auto_decompress=False,
                trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None),
            )
            # aiohttp sends a PUT or DELETE again by itself when the connection drops after it
            # was written; whether a request may be repeated is `RetryTransport`'s call alone
            # (Zendesk's PUT with a comment is not idempotent). No public switch exists.
            if not hasattr(self._session, "_retry_connection"):
                raise RuntimeError("this aiohttp cannot be told not to resend requests; pin aiohttp<4")
            self._session._retry_connection = False
            self._loop = loop
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        try:
            response = await self._session_here().request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                data=body or None,
                allow_redirects=False,
                timeout=_timeout(request.extensions.get("timeout") or {}),
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise as_httpx_error(exc, request) from exc
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
        if self._session is not None and not self._session.closed and self._loop is _running_loop():
            await self._session.close()
        self._session = None


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
