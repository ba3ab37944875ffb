"""Operations sharing a request body are imported in bounded work, and every one keeps its body.

A parameter's or a body's own schema is converted once per document (and schema options) however
many operations share it, through `components/requestBodies` or the same object, and copied to
each; an inline schema with no $ref to summarise is not built again at shallower depths. So 100
operations sharing a 3,300-object body build it once, and a 1,000-operation spec whose operations
all post an ordinary Order keeps every operation's body at the default depth, not only the first.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.openapi import import_spec, importer
from tests.connectors.conftest import SchemaCalls


def _props(n: int, prefix: str) -> dict[str, Any]:
    return {f"{prefix}_{i}": {"type": "string"} for i in range(n)}


def test_operations_sharing_a_components_request_body_are_bounded_work(
    schema_calls: SchemaCalls,
) -> None:
    # the shared body is reached through components/requestBodies and its schema is inline
    big = {
        "type": "object",
        "properties": {f"p{i}": {"type": "object", "properties": _props(40, "q")} for i in range(60)},
    }
    document = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "components": {"requestBodies": {"Big": {"content": {"application/json": {"schema": big}}}}},
        "paths": {
            f"/t{i}": {"post": {"requestBody": {"$ref": "#/components/requestBodies/Big"}, "responses": {}}}
            for i in range(100)
        },
    }
    assert len(json.dumps(document)) < 100_000
    ops = import_spec(document).operations
    assert len(ops) == 100 and all(o.tokens > 0 for o in ops)
    assert schema_calls.built <= 2 * 4 * (importer.MAX_SCHEMA_NODES + 1), schema_calls.built


def test_a_large_ordinary_spec_keeps_every_operations_body() -> None:
    # 1,000 operations (a large vendor API), each posting an ordinary Order
    schemas = {
        "Address": {"type": "object", "properties": _props(10, "line")},
        "Customer": {
            "type": "object",
            "properties": {**_props(30, "c"), "address": {"$ref": "#/components/schemas/Address"}},
        },
        "LineItem": {"type": "object", "properties": _props(15, "li")},
        "Order": {
            "type": "object",
            "properties": {
                **_props(30, "o"),
                "customer": {"$ref": "#/components/schemas/Customer"},
                "shipping": {"$ref": "#/components/schemas/Address"},
                "billing": {"$ref": "#/components/schemas/Address"},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/LineItem"}},
            },
        },
    }
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}}
    document = {
        "openapi": "3.0.3",
        "info": {"title": "shop", "version": "1"},
        "components": {"schemas": schemas},
        "paths": {
            f"/orders{i}": {"post": {"operationId": f"createOrder{i}", "requestBody": body, "responses": {}}}
            for i in range(1000)
        },
    }
    ops = import_spec(document).operations
    shallow = [o.name for o in ops if o.inline_depth != ops[0].inline_depth]
    assert not shallow, (len(shallow), shallow[:3], ops[-1].input_schema)
