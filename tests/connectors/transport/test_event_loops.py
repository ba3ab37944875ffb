"""One aiohttp session per event loop the transport meets (the CLI's asyncio.run per command, a
client built before its loop): the session of a loop that has ended is closed when another
loop comes, and `aclose()` from any loop closes them all, with no 'Unclosed client session'
or 'Unclosed connector' left for the garbage collector. (httpx's own transport cannot be
reused across loops at all: 'Event loop is closed'.)"""

from __future__ import annotations

import asyncio
import gc
import warnings

import httpx

from connectors.aio import AiohttpTransport
from tests.connectors.transport._raw import OK, Raw


async def _keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)
        await writer.drain()


def _fetch_in_a_new_loop(transport: AiohttpTransport, close: bool = False) -> int:
    async def fetch() -> int:
        async with Raw(_keep_alive) as url:
            response = await transport.handle_async_request(
                httpx.Request("GET", url + "/x", extensions={"timeout": {"connect": 5, "read": 5, "pool": 5}})
            )
            await response.aread()
            await response.aclose()
            if close:
                await transport.aclose()
            return response.status_code

    return asyncio.run(fetch())


def _earlier_garbage_collected() -> None:
    """What earlier tests of this process left unreachable is collected before the warnings are
    recorded: a socket another test leaked must not be counted against the transport."""
    gc.collect()


def _unclosed(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message).splitlines()[0][:80] for w in record if "nclosed" in str(w.message)]


def test_moving_to_another_loop_closes_the_session_left_behind() -> None:
    transport = AiohttpTransport()
    _earlier_garbage_collected()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert _fetch_in_a_new_loop(transport) == 200
        assert _fetch_in_a_new_loop(transport, close=True) == 200
        gc.collect()
    assert _unclosed(record) == []


def test_aclose_from_another_loop_does_not_drop_an_open_session() -> None:
    """The worker's shutdown (ConnectorPool.aclose) runs in whatever loop is current."""
    transport = AiohttpTransport()
    _earlier_garbage_collected()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert _fetch_in_a_new_loop(transport) == 200
        asyncio.run(transport.aclose())
        gc.collect()
    assert _unclosed(record) == []
