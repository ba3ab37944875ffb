"""An OpenAPI document at a URL is fetched under the connection's reach rules, redirects included.

The URL a person stores is checked when it is stored, but the fetch followed any redirect: a
public address answering 302 to the cloud metadata endpoint (169.254.169.254) or a loopback
service made the server send a GET there. A connection guarded from private addresses now
fetches its document through the same refusal its requests meet; one allowed private reach
follows the redirect as before.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.services.connections import ConnectorPool, add_connection
from connectors.openapi import connector as openapi_connector
from connectors.openapi.importer import SpecError
from connectors.reach import PublicOnlySyncTransport
from tests.support.app import container

SPEC_URL = "https://specs.shop.example/openapi.json"
METADATA = "http://169.254.169.254/latest/meta-data/openapi.json"
DOC = {
    "openapi": "3.1.0",
    "info": {"title": "Shop", "version": "1"},
    "paths": {"/orders": {"get": {"operationId": "listOrders", "responses": {"200": {"description": "ok"}}}}},
}


class Redirecting:
    """A public address that redirects to the metadata endpoint, which answers a document."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(str(request.url))
        if str(request.url) == SPEC_URL:
            return httpx.Response(302, headers={"Location": METADATA})
        return httpx.Response(200, json=DOC)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Redirecting:
    handler = Redirecting()
    monkeypatch.setattr(openapi_connector, "spec_transport", lambda: httpx.MockTransport(handler))
    monkeypatch.setattr(openapi_connector, "_spec_cache", {})
    return handler


def test_a_guarded_fetch_refuses_a_redirect_to_a_private_address(server: Redirecting) -> None:
    with pytest.raises(SpecError, match=r"could not fetch .*refused to connect: 169\.254\.169\.254"):
        openapi_connector.OpenAPIConnector.prepare({"spec": SPEC_URL}, public_only=True)
    assert server.asked == [SPEC_URL]


def test_a_fetch_allowed_private_reach_follows_the_redirect(server: Redirecting) -> None:
    openapi_connector.OpenAPIConnector.prepare({"spec": SPEC_URL}, public_only=False)
    assert server.asked == [SPEC_URL, METADATA]


async def test_a_guarded_pool_does_not_build_a_connection_whose_document_redirects_inside(
    server: Redirecting, db_url: str, tmp_path: Path
) -> None:
    c = container(db_url, tmp_path)
    add_connection(
        c.db,
        c.box,
        name="shop",
        kind="openapi",
        base_url="https://api.shop.example",
        config={"spec": SPEC_URL},
        allow_private=False,
    )
    pool = ConnectorPool(c.db, c.box, allow_private=False)
    try:
        with pytest.raises(Exception, match=r"connection shop: cannot build the connector: .*169\.254"):
            await pool.test("shop")
    finally:
        await pool.aclose()
    assert METADATA not in server.asked

    allowed = ConnectorPool(c.db, c.box, allow_private=True)
    try:
        assert [spec.name for spec in allowed.connector("shop").operations()] == ["list_orders"]
    finally:
        await allowed.aclose()


def test_the_guard_checks_the_first_address_too() -> None:
    seen: list[str] = []
    transport = PublicOnlySyncTransport(
        httpx.MockTransport(lambda r: seen.append(str(r.url)) or httpx.Response(200))
    )
    with httpx.Client(transport=transport) as http, pytest.raises(httpx.ConnectError, match="loopback"):
        http.get("http://127.0.0.1:8080/openapi.json")
    assert seen == []
