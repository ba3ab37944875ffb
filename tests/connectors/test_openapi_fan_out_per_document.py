"""A document's work is bounded, not only each operation's.

Each operation inlines a shared $ref afresh, with a budget of its own (MAX_SCHEMA_NODES): 25
operations sharing a fan-out request body built ~600,000 schema objects, and 300 would stall
every importing process for minutes. Past MAX_DOCUMENT_SCHEMA_NODES for the whole document, each
further operation's $refs are summarised. Counted as calls of `_Resolver.schema`.
"""

from __future__ import annotations

import json

from connectors.openapi import import_spec, importer
from tests.connectors.conftest import SchemaCalls
from tests.connectors.test_openapi_ref_fan_out import _document

OPERATIONS = 25


def test_a_document_of_many_fan_out_operations_is_imported_in_bounded_work(
    schema_calls: SchemaCalls,
) -> None:
    document = _document()
    body = document["paths"]["/things"]["post"]["requestBody"]  # type: ignore[index]
    document["paths"] = {
        f"/t{i}": {"post": {"requestBody": body, "responses": {}}} for i in range(OPERATIONS)
    }
    assert len(json.dumps(document)) < 15_000
    ops = import_spec(document).operations
    assert len(ops) == OPERATIONS
    # what the commit allows one operation (4 depths tried, each stopped at the limit), twice over
    assert schema_calls.built <= 2 * 4 * (importer.MAX_SCHEMA_NODES + 1), schema_calls.built
