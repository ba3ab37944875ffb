"""A plain-name `$ref` to a `$dynamicAnchor` resolves to that schema.

JSON Schema 2020-12 §8.2.2 (the dialect of OpenAPI 3.1 Schema Objects): "The "$anchor" and
"$dynamicAnchor" keywords are used to specify such fragments ... The behavior of the created
fragment is identical for both keywords." A tree schema written the 2020-12 way
(`"$dynamicAnchor": "node"`, children `"$ref": "#node"`) loads, its children the tree again.
"""

from __future__ import annotations

from typing import Any

from connectors.openapi import import_spec

TREE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Trees", "version": "1"},
    "servers": [{"url": "https://trees.example.com"}],
    "paths": {
        "/trees": {
            "post": {
                "operationId": "createTree",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Tree"}}},
                },
                "responses": {"201": {"description": "created"}},
            }
        }
    },
    "components": {
        "schemas": {
            "Tree": {
                "$dynamicAnchor": "node",
                "type": "object",
                "required": ["label"],
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#node"}},
                },
            }
        }
    },
}


def test_a_plain_name_ref_to_a_dynamic_anchor_resolves_to_that_schema() -> None:
    spec = import_spec(TREE)
    (op,) = spec.operations
    body = op.input_schema["properties"]["body"]
    assert body["properties"]["label"] == {"type": "string"}
    child = body["properties"]["children"]["items"]
    assert child.get("type") == "object", child  # the Tree again, not anything
