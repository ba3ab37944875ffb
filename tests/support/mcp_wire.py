"""An MCP server's HTTP answers as a real transport hands them over, for tests on httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx


class _Body(httpx.AsyncByteStream):
    """An unread body (the SDK streams every answer)."""

    def __init__(self, data: bytes):
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def answer(status: int, data: Any = None, **headers: str) -> httpx.Response:
    """`data` as a JSON body (none when None), with `headers`."""
    if data is None:
        return httpx.Response(status, headers=headers, stream=_Body(b""))
    body = json.dumps(data).encode()
    return httpx.Response(status, headers={"content-type": "application/json", **headers}, stream=_Body(body))
