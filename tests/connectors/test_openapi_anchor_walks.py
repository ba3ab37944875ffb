"""Plain-name $refs ($anchor / $dynamicAnchor) are resolved in work in proportion to the document.

Each `#Name` ref was resolved by walking the whole document, so n such refs in a document of m
nodes cost n*m (a 400 KB document of 1,000 refs took about 60 s to import, the same refs written
as JSON pointers 0.1 s). The document's anchors are found in one walk, the first time one is
needed, and shared by every resolver of that document. Measured as whole-document walks.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.openapi import import_spec, importer

REFS, PAD = 300, 1_000


def _document() -> dict[str, Any]:
    props = {f"p{i}": {"$ref": "#T"} for i in range(REFS)}
    body = {"content": {"application/json": {"schema": {"type": "object", "properties": props}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Anchors", "version": "1"},
        "paths": {"/t": {"post": {"operationId": "mk", "requestBody": body, "responses": {}}}},
        "components": {
            "schemas": {
                "T": {"$dynamicAnchor": "T", "type": "string"},
                **{f"X{i}": {"type": "object", "properties": {"a": {"type": "string"}}} for i in range(PAD)},
            }
        },
    }


def test_plain_name_refs_do_not_each_walk_the_whole_document(monkeypatch: pytest.MonkeyPatch) -> None:
    walks = 0
    named = importer._Shared.named

    def counted(self: Any, name: str) -> Any:
        nonlocal walks
        walks += self._index is None  # the first look walks the document; the rest read the index
        return named(self, name)

    monkeypatch.setattr(importer._Shared, "named", counted)
    (op,) = import_spec(_document()).operations
    assert op.input_schema["properties"]["body"]["properties"]["p0"].get("type") == "string"
    assert walks == 1, (walks, "whole-document walks for", REFS, "refs")
