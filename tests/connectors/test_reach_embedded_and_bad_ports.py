"""Addresses that carry a private IPv4 address, and ports no URL can have, are refused by name.

An IPv6 address in NAT64's well-known prefix (64:ff9b::/96, RFC 6052) or a 6to4 one
(2002::/16) reaches the IPv4 address inside it: 64:ff9b::a9fe:a9fe is the metadata endpoint
through a NAT64 gateway, though Python calls it global. Both guards judge it by the IPv4
address. A redirect to a port past 65535 fails the document's fetch as a fetch error naming
the document, not as a bare ValueError from the URL parser.
"""

from __future__ import annotations

import httpx
import pytest

from connectors.openapi import connector as openapi_connector
from connectors.openapi.importer import SpecError
from connectors.reach import PublicOnlySyncTransport, url_problem

SPEC_URL = "https://specs.shop.example/openapi.json"


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::a00:5]/openapi.json",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://[2002:a9fe:a9fe::1]/latest/meta-data/",
        "http://[2002:7f00:1::]/openapi.json",
    ],
)
def test_an_ipv6_address_carrying_a_private_ipv4_address_is_refused(url: str) -> None:
    assert url_problem(url, resolve=False) is not None
    seen: list[str] = []
    inner = httpx.MockTransport(lambda r: seen.append(str(r.url)) or httpx.Response(200))
    with httpx.Client(transport=PublicOnlySyncTransport(inner)) as http, pytest.raises(httpx.ConnectError):
        http.get(url)
    assert seen == []


@pytest.mark.parametrize("url", ["http://[64:ff9b::808:808]/", "http://[2002:808:808::1]/"])
def test_an_ipv6_address_carrying_a_public_ipv4_address_passes(url: str) -> None:
    assert url_problem(url, resolve=False) is None


def test_a_redirect_to_a_port_out_of_range_is_a_fetch_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://specs.shop.example:99999/openapi.json"})

    monkeypatch.setattr(openapi_connector, "spec_transport", lambda: httpx.MockTransport(handler))
    monkeypatch.setattr(openapi_connector, "_spec_cache", {})
    with pytest.raises(SpecError, match=r"could not fetch the OpenAPI document .*port out of range"):
        openapi_connector.OpenAPIConnector.prepare({"spec": SPEC_URL}, public_only=True)
