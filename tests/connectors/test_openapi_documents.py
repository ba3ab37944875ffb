"""The importer on real-world documents (see tests/fixtures/openapi/README.md for each one's
source and licence): every operation imported, every request built as its document says,
and tool schemas small enough for a model, with each tool's size reported."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from connectors.http import ApiKeyAuth, BearerAuth
from connectors.openapi import OpenAPIConnector, SpecError, auth_for, import_spec
from connectors.openapi.connector import CookieApiKeyAuth
from connectors.openapi.importer import FULL_SCHEMAS, OpenAPIOperation, OpenAPISpec, SchemaOptions
from connectors.openapi.tokens import tool_tokens

FIXTURES = Path(__file__).parents[1] / "fixtures" / "openapi"
DOCUMENTS = {
    "petstore-v3.yaml": 19,
    "scalar-galaxy/galaxy.json": 9,
    "readme-oas-examples/readme.json": 54,
    "readme-oas-examples/star-trek.json": 120,
    "forms-and-styles.yaml": 5,
}


def connector(doc: str | OpenAPISpec, **config: Any) -> OpenAPIConnector:
    spec = doc if isinstance(doc, OpenAPISpec) else import_spec(str(FIXTURES / doc))
    return OpenAPIConnector(httpx.AsyncClient(base_url="https://api.example.test"), {"spec": spec, **config})


def sample(schema: dict[str, Any]) -> Any:
    """A value that fits `schema` well enough to build a request."""
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return sample(schema[key][0])
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = sample(part)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    if kind == "integer":
        return 7
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(schema.get("items") or {"type": "string"})]
    if kind == "object" or "properties" in schema:
        required = schema.get("required") or []
        found = {k: sample(v) for k, v in (schema.get("properties") or {}).items() if k in required}
        extra = schema.get("additionalProperties")
        if not found and isinstance(extra, dict):  # a map: one entry, so a path segment is not empty
            found = {"k": sample(extra)}
        return found
    return "v-1"


def arguments(op: OpenAPIOperation) -> dict[str, Any]:
    props = op.input_schema["properties"]
    return {name: sample(props[name]) for name in op.input_schema.get("required", [])}


@pytest.mark.parametrize(("doc", "count"), DOCUMENTS.items())
def test_every_operation_is_imported_and_builds_its_request(doc: str, count: int) -> None:
    c = connector(doc)
    assert len(c.spec.operations) == count == len(c.operations())
    for op in c.spec.operations:
        request = c.build_request(op, arguments(op))
        assert request.method == op.method
        # the path template with each {param} filled by one non-empty segment
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.path.split("#")[0]))
        assert re.fullmatch(r".*" + pattern, request.url.path), (op.name, request.url.path)
        declared = {p.name for p in op.parameters if p.location == "query"}
        sent = {k.split("[")[0] for k, _ in parse_qsl(request.url.query.decode())}
        assert sent <= declared, (op.name, sent - declared)
        if op.body is not None and op.body.required:
            ctype = request.headers.get("content-type", "")
            assert ctype.split(";")[0] == op.body.content_type.split(";")[0], op.name


def test_petstore_v3_requests_follow_its_document() -> None:
    c = connector("petstore-v3.yaml")
    spec = c.spec
    assert spec.server_url() is None and spec.servers == ["/api/v3"]  # relative: base_url is needed
    tags = c.build_request(spec.operation("find_pets_by_tags"), {"tags": ["a", "b"]})
    assert tags.url.query == b"tags=a&tags=b"  # explode: true
    status = c.build_request(spec.operation("find_pets_by_status"), {"status": "sold"})
    assert status.url.query == b"status=sold"
    delete = c.build_request(spec.operation("delete_pet"), {"petId": 5, "api_key": "k"})
    assert delete.url.path == "/pet/5" and delete.headers["api_key"] == "k"
    order = c.build_request(spec.operation("place_order"), {"body": {"petId": 5, "quantity": 1}})
    assert order.headers["content-type"] == "application/json"  # JSON chosen over XML and form
    assert json.loads(order.content) == {"petId": 5, "quantity": 1}
    upload = c.build_request(
        spec.operation("upload_file"), {"petId": 5, "additionalMetadata": "x y", "body": "BYTES"}
    )
    assert upload.headers["content-type"] == "application/octet-stream" and upload.content == b"BYTES"
    assert upload.url.query == b"additionalMetadata=x%20y"
    user = c.build_request(spec.operation("get_user_by_name"), {"username": "a b?c"})
    assert user.url.raw_path == b"/user/a%20b%3Fc"
    # the Pet schema: category and tags inlined from $ref, required kept
    pet = spec.operation("add_pet").input_schema["properties"]["body"]
    assert pet["required"] == ["name", "photoUrls"]
    assert pet["properties"]["tags"]["items"]["properties"]["name"] == {"type": "string"}
    assert isinstance(auth_for(spec, {"key": "special-key"}), ApiKeyAuth)


def test_galaxy_offers_seven_security_schemes_and_each_builds_its_auth() -> None:
    spec = import_spec(str(FIXTURES / "scalar-galaxy/galaxy.json"))
    assert set(spec.security_schemes) == {
        "bearerAuth", "basicAuth", "apiKeyHeader", "apiKeyQuery", "apiKeyCookie", "oAuth2", "openIdConnect",
    }  # fmt: skip
    assert isinstance(auth_for(spec, {"token": "t"}, scheme="bearerAuth"), BearerAuth)
    assert isinstance(auth_for(spec, {"username": "u", "password": "p"}, scheme="basicAuth"), httpx.BasicAuth)
    query = auth_for(spec, {"key": "k"}, scheme="apiKeyQuery")
    assert isinstance(query, ApiKeyAuth) and query.query_param == "api_key"
    assert isinstance(auth_for(spec, {"key": "k"}, scheme="apiKeyCookie"), CookieApiKeyAuth)
    me = spec.operation("get_me")
    assert [next(iter(r)) for r in me.security or []] == [
        "basicAuth", "oAuth2", "bearerAuth", "apiKeyHeader", "apiKeyQuery",
    ]  # fmt: skip
    # path-level and $ref'd parameters: limit/offset from components.parameters
    everything = spec.operation("get_all_data")
    assert {p.name for p in everything.parameters} == {"limit", "offset"}


def test_path_level_parameters_and_readonly_properties() -> None:
    c = connector("forms-and-styles.yaml")
    call = c.spec.operation("create_call")
    assert [p.name for p in call.parameters] == ["AccountSid"]  # declared on the path item
    assert "pattern" in call.input_schema["properties"]["AccountSid"]
    put = c.spec.operation("put_book")
    assert {p.name for p in put.parameters} == {"shelf", "X-Request-Tags", "book"}
    body = put.input_schema["properties"]["body"]
    # Book = allOf[Entity (id, created: readOnly), {title, cover: oneOf}]: the server sets the
    # read-only ones, so they are not asked of the model
    entity = body["allOf"][0]
    assert "id" not in entity.get("properties", {}) and "created" not in entity.get("properties", {})
    assert len(body["allOf"][1]["properties"]["cover"]["oneOf"]) == 2
    kept = import_spec(str(FIXTURES / "forms-and-styles.yaml"), options=FULL_SCHEMAS)
    assert "id" in kept.operation("put_book").input_schema["properties"]["body"]["allOf"][0]["properties"]


def deep_document(levels: int = 8, fields: int = 12) -> dict[str, Any]:
    """Schemas nested `levels` deep, each with `fields` described properties: the shape that
    makes a fully inlined tool schema explode (OpenAI's own document has the like)."""
    schemas: dict[str, Any] = {}
    for level in range(levels):
        props: dict[str, Any] = {
            f"field_{i}": {"type": "string", "description": f"Field {i} of level {level}. " * 8}
            for i in range(fields)
        }
        if level + 1 < levels:
            props["child"] = {"$ref": f"#/components/schemas/Level{level + 1}"}
            props["children"] = {"type": "array", "items": {"$ref": f"#/components/schemas/Level{level + 1}"}}
        schemas[f"Level{level}"] = {
            "type": "object",
            "description": f"Level {level}. More.",
            "properties": props,
        }
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Level0"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Deep", "version": "1"},
        "paths": {
            "/things": {"post": {"operationId": "createThing", "requestBody": body, "tags": ["things"]}}
        },
        "components": {"schemas": schemas},
    }


def test_a_deep_document_is_cut_to_the_budget_and_summarised() -> None:
    full = import_spec(deep_document(), options=FULL_SCHEMAS).operation("create_thing")
    reduced = import_spec(deep_document()).operation("create_thing")
    assert full.tokens > 50_000
    assert reduced.tokens <= SchemaOptions().max_tokens  # type: ignore[operator]
    assert reduced.tokens == tool_tokens(reduced.name, reduced.description_text, reduced.input_schema)
    # below the inline depth, a schema is described: its name and its fields
    text = json.dumps(reduced.input_schema)
    assert "a Level" in text and "fields: field_0, field_1" in text
    deeper = import_spec(deep_document(), options=SchemaOptions(inline_depth=5, max_tokens=None))
    assert deeper.operation("create_thing").tokens > reduced.tokens


def test_operators_select_operations_by_tag_and_pattern_and_see_sizes() -> None:
    spec = import_spec(str(FIXTURES / "readme-oas-examples/star-trek.json"))
    everything = connector(spec)
    assert len(everything.operations()) == 120
    searches = connector(spec, include_operations=["post_*_search"])
    assert all(s.name.startswith("post_") and s.name.endswith("_search") for s in searches.operations())
    assert 0 < len(searches.operations()) < 120
    by_path = connector(spec, include_operations=["GET /animal*"], exclude_operations=["GET /animal/search"])
    assert {s.name for s in by_path.operations()} == {"get_animal"}
    galaxy = import_spec(str(FIXTURES / "scalar-galaxy/galaxy.json"))
    auth_only = connector(galaxy, tags=["Authentication"])
    assert {s.name for s in auth_only.operations()} == {"create_user", "get_token", "get_me"}
    with pytest.raises(SpecError, match="tags that Scalar Galaxy does not use: Moons"):
        connector(galaxy, tags=["Moons"])
    with pytest.raises(SpecError, match=r"does not have: nothing_\*"):
        connector(galaxy, include_operations=["nothing_*"])
    sizes = everything.tool_sizes()
    assert len(sizes) == 120 and sizes[0]["tokens"] >= sizes[-1]["tokens"] > 0
    assert {"name", "method", "path", "tokens", "inline_depth"} <= set(sizes[0])


def test_schema_options_come_from_the_connection_config() -> None:
    options = SchemaOptions.from_config({"schema_depth": 1, "max_tool_tokens": None, "keep_read_only": True})
    assert options == SchemaOptions(
        inline_depth=1, max_tokens=None, max_description=300, drop_read_only=False
    )
    with pytest.raises(SpecError, match="schema_depth"):
        SchemaOptions.from_config({"schema_depth": -1})
    c = connector(import_spec(deep_document(), options=options))
    assert c.tool_sizes()[0]["inline_depth"] == 1
