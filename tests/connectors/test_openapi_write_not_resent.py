"""An imported write goes out once unless the API deduplicates it by a key.

An OpenAPI connection's writes (its write methods, and any operation named in
`write_operations`, a GET that acts included) have idempotency "none" without
`idempotency_header`: the executor never sends them again, and neither does RetryTransport,
because the request is marked NOT_IDEMPOTENT whatever its HTTP method (RFC 9110 calls GET safe
and PUT/DELETE idempotent as methods; the connection's owner or the API may say otherwise).
With `idempotency_header` the request carries the key in that header, and the transport may
repeat it after a timeout or a 503: the system answers a repeat with the first result.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.http import RetryPolicy, build_client
from connectors.openapi import OpenAPIConnector, import_spec
from tests.connectors.conftest import FakeSleep

DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Jobs", "version": "1"},
    "servers": [{"url": "https://jobs.example.test"}],
    "paths": {
        "/jobs/{id}/run": {
            "get": {
                "operationId": "runJob",
                "summary": "Start a job run (a GET that acts)",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "started"}},
            }
        },
        "/ledger/{id}/entries": {
            "put": {
                "operationId": "appendEntry",
                "summary": "Append a ledger entry",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {"200": {"description": "appended"}},
            }
        },
    },
}


def _connector(sent: list[httpx.Request], fail_first: str, **config: Any) -> OpenAPIConnector:
    """The first request meets `fail_first` ("timeout": the answer never comes; "503"); later
    ones succeed. Every request that reached the system is in `sent`."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            if fail_first == "timeout":
                raise httpx.ReadTimeout("no answer in time", request=request)  # sent, maybe acted on
            return httpx.Response(503, json={"message": "try later"})
        return httpx.Response(200, json={"ok": True})

    client = build_client(
        "https://jobs.example.test",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=4, sleep=FakeSleep()),
    )
    return OpenAPIConnector(client, {"spec": import_spec(DOC), "write_operations": ["runJob"], **config})


@pytest.mark.parametrize("fail_first", ["timeout", "503"])
async def test_a_get_declared_a_write_is_sent_once(fail_first: str) -> None:
    sent: list[httpx.Request] = []
    c = _connector(sent, fail_first)
    spec = next(s for s in c.operations() if s.name == "run_job")
    assert spec.effect == "write" and spec.idempotency == "none"
    with contextlib.suppress(ConnectorError):  # failing is right: the action waits for a person
        await c.call(spec, {"id": "42"}, idempotency_key="action-1")
    assert len(sent) == 1, f"the write went out {len(sent)} times: {[str(r.url) for r in sent]}"


@pytest.mark.parametrize("fail_first", ["timeout", "503"])
async def test_an_imported_put_without_an_idempotency_header_is_sent_once(fail_first: str) -> None:
    sent: list[httpx.Request] = []
    c = _connector(sent, fail_first)
    spec = next(s for s in c.operations() if s.name == "append_entry")
    assert spec.effect == "write" and spec.idempotency == "none"
    with contextlib.suppress(ConnectorError):
        await c.call(spec, {"id": "L1", "body": {"amount": 100}}, idempotency_key="action-2")
    assert len(sent) == 1, f"the write went out {len(sent)} times"


@pytest.mark.parametrize("fail_first", ["timeout", "503"])
async def test_a_write_with_the_configured_idempotency_header_may_be_repeated(fail_first: str) -> None:
    sent: list[httpx.Request] = []
    c = _connector(sent, fail_first, idempotency_header="X-Request-Key")
    spec = next(s for s in c.operations() if s.name == "run_job")
    assert spec.effect == "write" and spec.idempotency == "key"
    assert await c.call(spec, {"id": "42"}, idempotency_key="action-1") == {"ok": True}
    assert [r.headers["X-Request-Key"] for r in sent] == ["action-1", "action-1"]


async def test_a_read_is_still_repeated_after_a_503() -> None:
    sent: list[httpx.Request] = []
    c = _connector(sent, "503", write_operations=[])
    spec = next(s for s in c.operations() if s.name == "run_job")
    assert spec.effect == "read"
    assert await c.call(spec, {"id": "42"}, idempotency_key=None) == {"ok": True}
    assert len(sent) == 2
