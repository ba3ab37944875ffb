"""Every write of the request is bounded (httpx's Timeout.write): a server that stops reading an
upload ends the call with WriteTimeout (maybe sent, so RetryTransport repeats only what is
safe), instead of a worker's run waiting for ever. aiohttp has no write timeout, so a large
body goes through httpx's own transport."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.aio import AiohttpTransport
from connectors.http import RetryPolicy, build_client
from tests.connectors.transport._raw import Raw

BIG = b"x" * (32 << 20)  # more than the loopback socket buffers hold


async def _stop_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(30)  # never reads the body, never answers


@pytest.mark.parametrize("make", [httpx.AsyncHTTPTransport, AiohttpTransport], ids=["httpx", "aiohttp"])
async def test_a_stalled_upload_times_out_as_a_write_timeout(make: type) -> None:
    transport = make()
    async with Raw(_stop_reading) as url, httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.WriteTimeout):
            await asyncio.wait_for(client.post(url + "/attachments", content=BIG, timeout=0.5), 5)


async def test_build_client_default_timeout_bounds_an_upload() -> None:
    """Through build_client, as every connector gets it (here timeout=1 s): still stuck after 5 s."""
    async with Raw(_stop_reading) as url:
        client = build_client(url, timeout=1.0, retry=RetryPolicy(max_attempts=1))
        async with client:
            with pytest.raises(httpx.TimeoutException):
                await asyncio.wait_for(client.post("/uploads", content=BIG), 5)
