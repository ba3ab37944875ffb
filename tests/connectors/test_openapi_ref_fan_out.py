"""An operation whose $refs fan out is inlined less deeply, in bounded work.

Each `$ref` is inlined afresh (to `schema_depth`, default 3), so a 10 KB document of four schemas,
each with 60 properties referring to the next, stands for 60^3 = 216,000 schema objects per
operation. Every process imports the document when it builds the connection: the importer
stops building an operation at MAX_SCHEMA_NODES and inlines it less deeply (down to summaries
of every $ref); an operation too large even then is refused with its name and the limit.
"""

from __future__ import annotations

import json

import pytest

from connectors.openapi import import_spec, importer
from connectors.openapi.importer import SpecError
from tests.connectors.conftest import SchemaCalls

FAN_OUT = 60


def _document() -> dict[str, object]:
    def props(target: str | None) -> dict[str, object]:
        return {
            f"p{i}": {"$ref": f"#/components/schemas/{target}"} if target else {"type": "string"}
            for i in range(FAN_OUT)
        }

    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Fan-out", "version": "1"},
        "paths": {"/things": {"post": {"operationId": "makeThing", "requestBody": body, "responses": {}}}},
        "components": {
            "schemas": {
                "A": {"type": "object", "properties": props("B")},
                "B": {"type": "object", "properties": props("C")},
                "C": {"type": "object", "properties": props("D")},
                "D": {"type": "object", "properties": props(None)},
            }
        },
    }


def test_a_fan_out_of_refs_is_inlined_less_deeply_in_bounded_work(schema_calls: SchemaCalls) -> None:
    document = _document()
    assert len(json.dumps(document)) < 10_000
    (op,) = import_spec(document).operations
    assert op.inline_depth is not None and op.inline_depth < 3, op.inline_depth
    assert "fields: p0, p1" in op.input_schema["properties"]["body"]["description"]
    # each depth tried stops at the limit
    assert schema_calls.built <= 4 * (importer.MAX_SCHEMA_NODES + 1), schema_calls.built


def test_with_every_ref_inlined_such_an_operation_is_refused() -> None:
    with pytest.raises(SpecError, match=r"POST /things: its schema expands past 20,000 schema objects"):
        import_spec(_document(), options=importer.FULL_SCHEMAS)
