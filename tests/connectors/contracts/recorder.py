"""Record a client's requests on an `httpx.MockTransport`, answered by a few lines that
follow the vendor's documentation (not our simulator), so a test can check what went out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx

from connectors.http import NO_RETRY, RetryPolicy, build_client

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Every request the client sent, in order, with helpers to read them back."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    def client(self, base_url: str, *, retry: RetryPolicy = NO_RETRY, **kwargs: Any) -> httpx.AsyncClient:
        return build_client(base_url, transport=httpx.MockTransport(self), retry=retry, **kwargs)

    def calls(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.url.path == path)
        ]


def form(request: httpx.Request) -> list[tuple[str, str]]:
    """An x-www-form-urlencoded body as ordered pairs."""
    return parse_qsl(request.content.decode(), keep_blank_values=True)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def reply(status: int = 200, data: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=data if data is not None else {}, headers=headers)
