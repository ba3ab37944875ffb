"""Two edges of an imported API's requests: header items and a document read after a redirect.

A header parameter in `simple` style is sent unencoded (a header is not a URL), so an array item
or an object's key or value holding the style's separators (`,`, and `=` when exploded) would
arrive as more items than were approved: it is refused, naming the parameter. A document fetched
through a redirect is where it was read from: its relative operation servers resolve against the
final address (RFC 3986 §5.1.3), not the one first asked.
"""

from __future__ import annotations

import json

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.openapi.connector import OpenAPIConnector
from connectors.openapi.importer import import_spec, load_document
from connectors.openapi.serialize import SerializationError, header_value

DOC = {
    "openapi": "3.1.0",
    "info": {"title": "Labels", "version": "1"},
    "servers": [{"url": "https://api.labels.example"}],
    "paths": {
        "/labels": {
            "post": {
                "operationId": "printLabel",
                "servers": [{"url": "/print/v1"}],
                "parameters": [
                    {
                        "name": "X-Tags",
                        "in": "header",
                        "schema": {"type": "array", "items": {"type": "string"}},
                    }
                ],
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


@pytest.mark.parametrize(
    ("value", "explode"),
    [(["gift", "rush,express"], False), ({"a": "1,2"}, False), ({"a=b": "1"}, True), ({"a": "x=y"}, True)],
    ids=["array-item-comma", "object-value-comma", "exploded-key-equals", "exploded-value-equals"],
)
def test_a_header_item_holding_a_separator_is_refused(value: object, explode: bool) -> None:
    with pytest.raises(SerializationError, match="separates a header's items"):
        header_value(value, explode)
    assert header_value(["gift", "rush"]) == "gift,rush"


def test_the_operation_names_the_header_it_refused() -> None:
    c = OpenAPIConnector(httpx.AsyncClient(base_url="https://api.labels.example"), {"spec": import_spec(DOC)})
    with pytest.raises(ConnectorError, match=r"print_label: .*'rush,express' holds ','"):
        c.build_request(c.spec.operation("print_label"), {"X-Tags": ["gift", "rush,express"]})


def test_a_document_read_through_a_redirect_resolves_relative_servers_against_where_it_was_read() -> None:
    def moved(request: httpx.Request) -> httpx.Response:
        if request.url.host == "old.labels.example":
            return httpx.Response(301, headers={"Location": "https://docs.labels.example/v2/openapi.json"})
        return httpx.Response(
            200, content=json.dumps(DOC).encode(), headers={"content-type": "application/json"}
        )

    with httpx.Client(transport=httpx.MockTransport(moved), follow_redirects=True) as http:
        _, origin = load_document("https://old.labels.example/openapi.json", http=http)
    assert origin == "https://docs.labels.example/v2/openapi.json"
