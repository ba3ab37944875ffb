"""A YAML document whose aliases expand far past what it writes is refused before it is built.

YAML anchors and aliases (`&l3` / `*l3`) are not `$ref`s: loaded, each alias is one shared object,
and the importer walks every path through it as a fresh schema, so a 1 KB document of nested
aliases (a "billion laughs") would keep it busy for hours. The composed YAML graph is measured
first, each node once (connectors/openapi/yaml_text.py), and a document whose aliases expand past
a bound relative to what it writes is a SpecError that says so; an alias that contains itself
is refused too. Real specs that use a few anchors for repeated parts load as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.openapi import SpecError, import_spec


def _bomb(levels: int, width: int = 8) -> str:
    lines = ["openapi: 3.0.3", "info: {title: b, version: '1'}", "x-defs:", "  l0: &l0 {type: string}"]
    for i in range(1, levels + 1):
        props = ", ".join(f"p{j}: *l{i - 1}" for j in range(width))
        lines.append(f"  l{i}: &l{i} {{type: object, properties: {{{props}}}}}")
    lines += [
        "paths:",
        "  /x:",
        "    post:",
        "      operationId: x",
        "      requestBody:",
        "        content:",
        "          application/json:",
        f"            schema: *l{levels}",
    ]
    return "\n".join(lines) + "\n"


def test_a_small_yaml_document_whose_aliases_expand_to_millions_of_nodes_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "aliases.yaml"
    doc.write_text(_bomb(9))
    assert doc.stat().st_size < 1300
    with pytest.raises(
        SpecError, match=r"is refused: its YAML aliases expand 156 written nodes to 1,396,960,041"
    ):
        import_spec(str(doc))


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "loop.yaml"
    doc.write_text(
        _bomb(1).replace(
            "l1: &l1 {type: object, properties: {", "l1: &l1 {type: object, loop: *l1, properties: {"
        )
    )
    with pytest.raises(SpecError, match="an alias contains the node it refers to"):
        import_spec(str(doc))


def test_a_document_with_a_few_shared_anchors_loads(tmp_path: Path) -> None:
    doc = tmp_path / "shared.yaml"
    doc.write_text(_bomb(3, width=3))
    spec = import_spec(str(doc))
    body = spec.operation("x").input_schema["properties"]["body"]
    assert body["properties"]["p2"]["properties"]["p1"]["properties"]["p0"] == {"type": "string"}
