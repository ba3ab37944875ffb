"""The importer reads a document as the specification does, so a tool sends what was approved.

1. A tool name is a stable function of its operation. Names that collide once snake-cased and
   cut to 40 characters (Stripe's `DeleteCustomersCustomerSubscriptionsSubscriptionExposedId`
   and `...ExposedIdDiscount`) all take a suffix from a hash of their own METHOD and path, never a
   number from their order: an action stores only its tool name and every process reads the
   document again, so a revision that adds an operation can make a name disappear (the write
   fails as unknown) but never move it to another endpoint.

2. Operation and Path Item `servers` override the root server (OpenAPI 3.1.1, Operation Object
   `servers`). The connection's credentials go only to its base URL's origin and to hosts the
   operator lists in `credential_hosts`; an operation served from elsewhere is sent without them.

3. A `$ref` to a plain-name fragment (`#Pet`) resolves through `$anchor` (JSON Schema 2020-12
   §8.2.2); one no schema declares is a SpecError naming the ref, never the whole document.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.http import BearerAuth
from connectors.openapi import OpenAPIConnector, SpecError, import_spec

LONG = "CustomersCustomerSubscriptionsSubscriptionExposedId"


def _op(operation_id: str) -> dict[str, Any]:
    return {"operationId": operation_id, "responses": {"200": {"description": "ok"}}}


def _stripe_like(with_cancel: bool) -> dict[str, Any]:
    sub = "/v1/customers/{customer}/subscriptions/{subscription_exposed_id}"
    params = [
        {"name": "customer", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "subscription_exposed_id", "in": "path", "required": True, "schema": {"type": "string"}},
    ]
    paths: dict[str, Any] = {}
    if with_cancel:  # the next revision documents the cancel endpoint, which sorts first
        paths[sub] = {"parameters": params, "delete": _op(f"Delete{LONG}")}
    paths[sub + "/discount"] = {"parameters": params, "delete": _op(f"Delete{LONG}Discount")}
    paths[sub + "/items"] = {"parameters": params, "delete": _op(f"Delete{LONG}Items")}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Stripe-like", "version": "2"},
        "servers": [{"url": "https://api.stripe.example"}],
        "paths": paths,
    }


def _endpoints(doc: dict[str, Any]) -> dict[str, str]:
    return {op.name: f"{op.method} {op.path}" for op in import_spec(doc).operations}


def test_a_tool_name_keeps_naming_the_same_endpoint_when_the_document_grows() -> None:
    before, after = _endpoints(_stripe_like(False)), _endpoints(_stripe_like(True))
    moved = {
        name: (before[name], after[name])
        for name in before.keys() & after.keys()
        if before[name] != after[name]
    }
    assert not moved, f"tool names that now send another request: {moved}"
    # all three collide after truncation: each is named by a hash of its own method and path
    assert len(after) == 3 and all(
        re.fullmatch(r"delete_customers_customer_subscri_[0-9a-f]{6}", n) for n in after
    )
    assert set(before) < set(after)


def test_a_name_that_starts_to_collide_disappears_rather_than_moves() -> None:
    doc = _stripe_like(False)
    del doc["paths"]["/v1/customers/{customer}/subscriptions/{subscription_exposed_id}/items"]
    (only,) = _endpoints(doc)
    assert only == "delete_customers_customer_subscriptions"  # unique: no suffix
    assert only not in _endpoints(_stripe_like(True))


def _doc_with_servers() -> dict[str, Any]:
    body = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Files", "version": "1"},
        "servers": [{"url": "https://api.files.example/v2"}],
        "paths": {
            "/files": {
                "post": {
                    "operationId": "uploadFile",
                    "servers": [{"url": "https://uploads.files.example/v2"}],
                    "requestBody": body,
                    "responses": {"200": {"description": "ok"}},
                }
            },
            "/exports": {
                "servers": [{"url": "https://exports.files.example"}],
                "post": {"operationId": "startExport", "responses": {"202": {"description": "ok"}}},
            },
            "/files/{id}": {
                "delete": {
                    "operationId": "deleteFile",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"204": {"description": "ok"}},
                }
            },
        },
    }


def test_operation_and_path_item_servers_override_the_root_server() -> None:
    spec = import_spec(_doc_with_servers())
    c = OpenAPIConnector(httpx.AsyncClient(), {"spec": spec})  # no base_url: the document decides
    upload = c.build_request(spec.operation("upload_file"), {"body": "data"})
    export = c.build_request(spec.operation("start_export"), {})
    delete = c.build_request(spec.operation("delete_file"), {"id": "f1"})
    assert str(delete.url) == "https://api.files.example/v2/files/f1"  # the root server: right
    assert str(upload.url) == "https://uploads.files.example/v2/files", str(upload.url)
    assert str(export.url) == "https://exports.files.example/exports", str(export.url)


def _files_connector(sent: list[httpx.Request], **config: Any) -> OpenAPIConnector:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(401 if "Authorization" not in request.headers else 200, json={})

    client = httpx.AsyncClient(
        base_url="https://api.files.example/v2",
        auth=BearerAuth("secret"),
        transport=httpx.MockTransport(handler),
    )
    return OpenAPIConnector(client, {"spec": import_spec(_doc_with_servers()), **config})


async def test_credentials_go_only_to_the_connection_host_and_the_hosts_it_lists() -> None:
    sent: list[httpx.Request] = []
    c = _files_connector(sent)
    ops = {s.name: s for s in c.operations()}
    await c.call(ops["delete_file"], {"id": "f1"}, None)
    with pytest.raises(ConnectorError, match="sent without the connection's credentials"):
        await c.call(ops["upload_file"], {"body": "data"}, None)
    assert [(r.url.host, r.headers.get("Authorization")) for r in sent] == [
        ("api.files.example", "Bearer secret"),
        ("uploads.files.example", None),
    ]
    sent.clear()
    c = _files_connector(sent, credential_hosts=["uploads.files.example"])
    await c.call(ops["upload_file"], {"body": "data"}, None)
    assert [(r.url.host, r.headers.get("Authorization")) for r in sent] == [
        ("uploads.files.example", "Bearer secret")
    ]


def test_a_relative_operation_server_is_resolved_against_the_connection_base() -> None:
    doc = _doc_with_servers()
    doc["paths"]["/files"]["post"]["servers"] = [{"url": "/upload/v1"}]
    c = OpenAPIConnector(
        httpx.AsyncClient(base_url="https://api.files.example/v2"), {"spec": import_spec(doc)}
    )
    request = c.build_request(c.spec.operation("upload_file"), {"body": "data"})
    assert str(request.url) == "https://api.files.example/upload/v1/files"
    assert c.credentials_go_to(request.url)


def test_a_plain_name_fragment_ref_resolves_its_anchor_or_is_refused() -> None:
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "Pets", "version": "1"},
        "paths": {
            "/pets": {
                "post": {
                    "operationId": "addPet",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#Pet"}}},
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "components": {
            "schemas": {
                "Pet": {
                    "$anchor": "Pet",
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string"}},
                }
            }
        },
    }
    spec = import_spec(copy.deepcopy(doc))
    body = spec.operation("add_pet").input_schema["properties"]["body"]
    assert "openapi" not in body and "paths" not in body, f"body schema is the whole document: {list(body)}"
    assert body.get("required") == ["name"]
    assert body["properties"] == {"name": {"type": "string"}}
    del doc["components"]["schemas"]["Pet"]["$anchor"]
    with pytest.raises(
        SpecError, match=r"\$ref '#Pet' does not resolve \(no schema has \$anchor or \$dynamicAnchor 'Pet'\)"
    ):
        import_spec(doc)
