"""Connectors generated from OpenAPI documents: the real Swagger Petstore v3 document
imported into tools, requests built from it, auth from its securitySchemes, and calls
through tools against the Petstore simulator over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from connectors.auth import OAuth2ClientCredentials
from connectors.base import ConnectorError
from connectors.http import ApiKeyAuth, BearerAuth, build_client
from connectors.openapi import OpenAPIConnector, SpecError, auth_for, import_spec
from connectors.openapi.importer import SPECS_DIR, snake_case
from connectors.openapi.petstore_simulator import PetstoreState, create_app
from tests.connectors.conftest import FakeSleep, retry_policy
from tools.base import Tool
from tools.from_connector import tools_for

PETSTORE = SPECS_DIR / "petstore3.json"
API_KEY = "special-key"
EFFECTS = {
    "add_pet": "write",
    "update_pet": "write",
    "find_pets_by_status": "read",
    "find_pets_by_tags": "read",
    "get_pet_by_id": "read",
    "update_pet_with_form": "write",
    "delete_pet": "write",
    "upload_file": "write",
    "get_inventory": "read",
    "place_order": "write",
    "get_order_by_id": "read",
    "delete_order": "write",
    "create_user": "write",
    "create_users_with_array_input": "write",
    "create_users_with_list_input": "write",
    "login_user": "read",
    "logout_user": "read",
    "get_user_by_name": "read",
    "update_user": "write",
    "delete_user": "write",
}


def minimal(**paths: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "Mini", "version": "1"}, "paths": paths}


def offline(config: dict[str, Any], **kwargs: Any) -> OpenAPIConnector:
    return OpenAPIConnector(httpx.AsyncClient(base_url="https://api.example.test/v3", **kwargs), config)


# --- import ---------------------------------------------------------------------------


def test_the_petstore_document_imports_with_every_operation() -> None:
    spec = import_spec(str(PETSTORE))
    assert spec.title == "Swagger Petstore" and spec.openapi.startswith("3.0")
    assert {op.name for op in spec.operations} == set(EFFECTS)
    get_pet = spec.operation("get_pet_by_id")
    assert (get_pet.operation_id, get_pet.method, get_pet.path) == ("getPetById", "GET", "/pet/{petId}")
    assert get_pet.security == [{"api_key": []}]
    assert set(spec.security_schemes) == {"petstore_auth", "api_key"}
    assert (
        import_spec("petstore3").operation("add_pet").input_schema == spec.operation("add_pet").input_schema
    )


def test_effects_and_tools() -> None:
    connector = offline({"spec": "petstore3"})
    tools = {t.operation: t for t in tools_for("petstore", connector)}
    assert {op: t.effect for op, t in tools.items()} == EFFECTS
    assert all(t.idempotency == "none" for t in tools.values())  # the Petstore honours no key
    assert tools["get_pet_by_id"].name == "petstore__get_pet_by_id"
    assert (
        tools["get_pet_by_id"].description
        == "[petstore, read] Find pet by ID. Returns a single pet (GET /pet/{petId})"
    )
    assert tools["add_pet"].description == "[petstore, write] Add a new pet to the store (POST /pet)"
    # The class has no operations of its own; the instance has the document's.
    assert OpenAPIConnector.operations() == []
    assert len(connector.operations()) == len(EFFECTS)


def test_schemas_inline_every_ref() -> None:
    spec = import_spec(str(PETSTORE))
    assert spec.operation("get_pet_by_id").input_schema == {
        "type": "object",
        "properties": {"petId": {"type": "integer", "format": "int64", "description": "ID of pet to return"}},
        "required": ["petId"],
        "additionalProperties": False,
    }
    add_pet = spec.operation("add_pet").input_schema
    assert add_pet["required"] == ["body"]
    pet = add_pet["properties"]["body"]
    assert pet["type"] == "object" and pet["required"] == ["name", "photoUrls"]
    assert pet["properties"]["category"]["properties"] == {
        "id": {"type": "integer", "format": "int64"},
        "name": {"type": "string"},
    }
    assert pet["properties"]["tags"]["items"]["properties"]["name"] == {"type": "string"}
    assert pet["properties"]["status"]["enum"] == ["available", "pending", "sold"]
    assert "xml" not in json.dumps(pet) and "x-swagger-router-model" not in json.dumps(pet)
    for op in spec.operations:
        assert "$ref" not in json.dumps(op.input_schema), op.name
    by_status = spec.operation("find_pets_by_status").input_schema["properties"]["status"]
    assert by_status["type"] == "array" and by_status["items"]["enum"] == ["available", "pending", "sold"]
    delete = spec.operation("delete_pet").input_schema
    assert delete["required"] == ["petId"] and delete["properties"]["api_key"] == {"type": "string"}
    users = spec.operation("create_users_with_list_input").input_schema["properties"]["body"]
    assert users["type"] == "array" and users["items"]["properties"]["username"]["type"] == "string"
    upload = spec.operation("upload_file")
    assert upload.body is not None and upload.body.content_type == "multipart/form-data"


def test_tool_schemas_validate_arguments() -> None:
    tools = {t.operation: t for t in tools_for("petstore", offline({"spec": "petstore3"}))}
    assert tools["get_pet_by_id"].validate({"petId": 3}) == []
    assert tools["get_pet_by_id"].validate({"petId": "three"})
    assert tools["get_pet_by_id"].validate({})
    assert tools["add_pet"].validate({"body": {"name": "Rex", "photoUrls": []}}) == []
    assert tools["add_pet"].validate({"body": {"name": "Rex"}})  # photoUrls is required
    assert tools["add_pet"].validate({"body": {"name": "Rex", "photoUrls": [], "status": "lost"}})
    assert tools["find_pets_by_status"].validate({"status": "gone"})


def test_yaml_file_and_url_sources(tmp_path: Path, serve_asgi: Callable[[Any], str]) -> None:
    document = json.loads(PETSTORE.read_text())
    as_yaml = tmp_path / "petstore.yaml"
    as_yaml.write_text(yaml.safe_dump(document, sort_keys=False))
    from_yaml = import_spec(str(as_yaml))
    assert [op.name for op in from_yaml.operations] == [op.name for op in import_spec(document).operations]

    app = FastAPI()

    @app.get("/api/v3/openapi.yaml")
    async def served() -> PlainTextResponse:
        return PlainTextResponse(as_yaml.read_text(), media_type="application/yaml")

    @app.get("/api/v3/relative.yaml")
    async def served_relative() -> PlainTextResponse:
        text = yaml.safe_dump({**document, "servers": [{"url": "/v3"}]}, sort_keys=False)
        return PlainTextResponse(text, media_type="application/yaml")

    url = serve_asgi(app)
    from_url = import_spec(f"{url}/api/v3/openapi.yaml")
    assert len(from_url.operations) == len(EFFECTS)
    assert from_url.server_url() == "http://petstore.swagger.io/v2"  # an absolute server URL is kept
    relative = import_spec(f"{url}/api/v3/relative.yaml")
    assert relative.server_url() == f"{url.rsplit('/', 1)[0]}/v3"  # "/v3" resolved against where it was found
    with pytest.raises(SpecError, match="answered 404"):
        import_spec(f"{url}/api/v3/missing.yaml")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"swagger": "2.0", "paths": {}}, "Swagger 2.0; only OpenAPI 3.x"),
        ({"openapi": "2.1", "paths": {}}, "not an OpenAPI 3.x document"),
        ({"openapi": "3.0.0", "info": {}}, "'paths' must be an object"),
        (minimal(), "has no operations"),
        (
            minimal(**{"/pets/{petId}": {"get": {"operationId": "getPet"}}}),
            r"paths\./pets/\{petId\}\.get: path parameter 'petId' is used in the path but not declared",
        ),
        (
            minimal(
                **{
                    "/pets": {
                        "post": {
                            "requestBody": {
                                "content": {
                                    "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                                }
                            }
                        }
                    }
                }
            ),
            r"paths\./pets\.post\.requestBody\.content\.application/json\.schema: \$ref '#/components/schemas/Pet' does not resolve",
        ),
        (
            minimal(**{"/pets": {"get": {"parameters": [{"in": "query"}]}}}),
            r"paths\./pets\.get\.parameters\[0\]: a parameter needs 'name' and 'in'",
        ),
        (
            minimal(
                **{"/pets": {"get": {"parameters": [{"$ref": "other.yaml#/components/parameters/Limit"}]}}}
            ),
            "points outside this document",
        ),
        (minimal(pets={"get": {}}), "'pets' must start with '/'"),
        ([1, 2], "must be a path, a URL or a document"),
    ],
)
def test_bad_documents_name_the_problem(document: Any, problem: str) -> None:
    with pytest.raises(SpecError, match=problem):
        import_spec(document)


def test_bad_files_name_the_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.0.0\npaths:\n  /pets: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken\.yaml is not valid YAML"):
        import_spec(str(broken))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"openapi": "3.0.0",}')
    with pytest.raises(SpecError, match=r"bad\.json is not valid JSON"):
        import_spec(str(bad_json))
    with pytest.raises(SpecError, match="not a file, not an http"):
        import_spec(str(tmp_path / "nowhere.yaml"))
    with pytest.raises(SpecError, match=r"needs config\.spec"):
        offline({})


def test_recursion_nullable_and_names() -> None:
    document = minimal(
        **{
            "/nodes": {
                "post": {
                    "operationId": "createNode",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}},
                    },
                },
                "get": {"operationId": "create-node"},  # snake-cases to the same name
            },
            "/nodes/{node id}": {
                "parameters": [
                    {"name": "node id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "delete": {},  # no operationId
                "get": {
                    "operationId": "List Nodes (v2)",
                    "parameters": [
                        {
                            "name": "page[size]",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
                        }
                    ],
                },
            },
        }
    )
    document["components"] = {
        "schemas": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string", "nullable": True},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            }
        }
    }
    spec = import_spec(document)
    assert [op.name for op in spec.operations] == [
        "create_node_589742",  # GET /nodes ("create-node"): both take a hash of METHOD and path
        "create_node_872ca7",  # POST /nodes
        "list_nodes_v2",
        "delete_nodes_node_id",
    ]
    assert spec.operation("create_node_872ca7").operation_id == "createNode"
    node = spec.operation("create_node_872ca7").input_schema["properties"]["body"]
    assert node["properties"]["label"]["type"] == ["string", "null"]
    child = node["properties"]["children"]["items"]
    assert child["type"] == "object" and "recursive" in child["description"]
    listing = spec.operation("list_nodes_v2").input_schema
    assert listing["properties"]["page_size"] == {"type": "integer", "exclusiveMinimum": 0}
    assert listing["required"] == ["node_id"]
    assert snake_case("getHTTPResponseCode") == "get_http_response_code"
    assert snake_case("2fa.enable") == "op_2fa_enable"


# --- requests -------------------------------------------------------------------------


def test_requests_are_built_from_the_document() -> None:
    connector = offline({"spec": "petstore3"})
    spec = connector.spec
    request = connector.build_request(spec.operation("get_user_by_name"), {"username": "ann lee:admin"})
    assert request.method == "GET"
    assert request.url.raw_path == b"/v3/user/ann%20lee%3Aadmin"
    with pytest.raises(ConnectorError, match="would change the path"):  # servers decode %2F, then route
        connector.build_request(spec.operation("get_user_by_name"), {"username": "ann lee/admin"})
    tags = connector.build_request(spec.operation("find_pets_by_tags"), {"tags": ["puppy", "indoor"]})
    assert tags.url.query == b"tags=puppy&tags=indoor"
    delete = connector.build_request(spec.operation("delete_pet"), {"petId": 7, "api_key": "k"})
    assert delete.method == "DELETE" and delete.url.path == "/v3/pet/7" and delete.headers["api_key"] == "k"
    add = connector.build_request(
        spec.operation("add_pet"), {"body": {"name": "Rex", "photoUrls": []}}, "key-1"
    )
    assert add.headers["content-type"] == "application/json"
    assert json.loads(add.content) == {"name": "Rex", "photoUrls": []}
    assert "idempotency-key" not in add.headers  # not configured: the Petstore has no such thing
    with pytest.raises(ConnectorError, match="get_pet_by_id needs petId"):
        connector.build_request(spec.operation("get_pet_by_id"), {})
    with pytest.raises(ConnectorError, match="does not take color"):
        connector.build_request(spec.operation("get_pet_by_id"), {"petId": 1, "color": "red"})
    elsewhere = offline({"spec": "petstore3", "base_url": "https://petstore3.example/api/v3/"})
    assert str(elsewhere.build_request(spec.operation("get_inventory"), {}).url) == (
        "https://petstore3.example/api/v3/store/inventory"
    )


def test_config_overrides_effects_and_idempotency() -> None:
    connector = offline(
        {
            "spec": "petstore3",
            "read_only_operations": ["placeOrder"],
            "write_operations": ["logout_user"],
            "write_methods": ["POST", "PUT"],
            "idempotency_header": "Idempotency-Key",
            "exclude_operations": ["uploadFile"],
        }
    )
    ops = {s.name: s for s in connector.operations()}
    assert "upload_file" not in ops
    assert ops["place_order"].effect == "read" and ops["place_order"].idempotency == "none"
    assert ops["logout_user"].effect == "write"
    assert ops["delete_pet"].effect == "read"  # DELETE is not a write method in this config
    assert (ops["add_pet"].effect, ops["add_pet"].idempotency, ops["add_pet"].takes_idempotency_key) == (
        "write",
        "key",
        True,
    )
    spec = connector.spec
    add = connector.build_request(
        spec.operation("add_pet"), {"body": {"name": "a", "photoUrls": []}}, "act-9"
    )
    assert add.headers["idempotency-key"] == "act-9"
    read = connector.build_request(spec.operation("place_order"), {"body": {}}, "act-9")
    assert "idempotency-key" not in read.headers
    only = offline({"spec": "petstore3", "include_operations": ["getPetById", "add_pet"]})
    assert [s.name for s in only.operations()] == ["add_pet", "get_pet_by_id"]
    with pytest.raises(SpecError, match="does not have: fetchPet"):
        offline({"spec": "petstore3", "include_operations": ["fetchPet"]})


# --- auth -----------------------------------------------------------------------------


def test_auth_from_security_schemes() -> None:
    petstore = import_spec("petstore3")
    auth = auth_for(petstore, {"key": API_KEY})
    assert isinstance(auth, ApiKeyAuth) and auth.header == "api_key"
    assert auth_for(petstore, {}) is None and auth_for(petstore, None) is None
    assert isinstance(auth_for(petstore, {"token": "t"}), BearerAuth)  # an OAuth2 token got elsewhere
    with pytest.raises(SpecError, match="fit none of Swagger Petstore"):
        auth_for(petstore, {"username": "u", "password": "p"})
    with pytest.raises(SpecError, match="no security scheme 'basic'"):
        auth_for(petstore, {"key": "k"}, scheme="basic")

    document = minimal(**{"/things": {"get": {"operationId": "listThings"}}})
    document["components"] = {
        "securitySchemes": {
            "query_key": {"type": "apiKey", "in": "query", "name": "apikey"},
            "basic": {"type": "http", "scheme": "basic"},
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        }
    }
    document["security"] = [{"bearer": []}, {"basic": []}, {"query_key": []}]
    spec = import_spec(document)
    assert isinstance(auth_for(spec, {"token": "jwt"}), BearerAuth)
    assert isinstance(auth_for(spec, {"username": "u", "password": "p"}), httpx.BasicAuth)
    query = auth_for(spec, {"key": "k"})
    assert isinstance(query, ApiKeyAuth) and query.query_param == "apikey"
    assert isinstance(auth_for(spec, {"key": "k", "scheme": "query_key"}), ApiKeyAuth)


async def test_oauth2_client_credentials_token_is_cached_and_renewed() -> None:
    document = minimal(**{"/reports": {"get": {"operationId": "listReports"}}})
    document["servers"] = [{"url": "https://api.example.test/v1"}]
    document["components"] = {
        "securitySchemes": {
            "cc": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {"reports:read": "read"}}
                },
            }
        }
    }
    spec = import_spec(document)
    now = [1_000.0]
    issued: list[dict[str, str]] = []
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            issued.append(form)
            assert request.headers["authorization"].startswith("Basic ")
            return httpx.Response(
                200, json={"access_token": f"tok-{len(issued)}", "token_type": "Bearer", "expires_in": 600}
            )
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json=[])

    auth = auth_for(spec, {"client_id": "switchboard", "client_secret": "s3cret"}, clock=lambda: now[0])
    assert isinstance(auth, OAuth2ClientCredentials)
    assert auth.token_url == "https://api.example.test/oauth/token"  # relative tokenUrl resolved
    client = httpx.AsyncClient(
        base_url="https://api.example.test/v1", auth=auth, transport=httpx.MockTransport(handler)
    )
    connector = OpenAPIConnector(client, {"spec": document})
    [list_reports] = tools_for("reports", connector)
    await list_reports.invoke({}, None)
    await list_reports.invoke({}, None)
    now[0] += 590  # inside the renewal margin of a 600 s token
    await list_reports.invoke({}, None)
    assert [f["grant_type"] for f in issued] == ["client_credentials", "client_credentials"]
    assert issued[0]["scope"] == "reports:read"
    assert seen == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    await connector.aclose()


# --- against the Petstore simulator -----------------------------------------------------


@dataclass
class PetSim:
    app: FastAPI
    url: str

    @property
    def state(self) -> PetstoreState:
        state: PetstoreState = self.app.state.petstore
        return state


@pytest.fixture
def petstore_sim(serve_asgi: Callable[[Any], str]) -> PetSim:
    app = create_app(api_key=API_KEY)
    return PetSim(app, serve_asgi(app))


@pytest.fixture
async def petstore_tools(petstore_sim: PetSim, fake_sleep: FakeSleep) -> AsyncIterator[dict[str, Tool]]:
    spec = import_spec("petstore3")
    client = build_client(
        petstore_sim.url, auth=auth_for(spec, {"key": API_KEY}), retry=retry_policy(fake_sleep)
    )
    connector = OpenAPIConnector(client, {"spec": "petstore3", "label": "Petstore"})
    yield {t.operation: t for t in tools_for("petstore", connector)}
    await connector.aclose()


async def test_a_read_through_tools(petstore_tools: dict[str, Tool], petstore_sim: PetSim) -> None:
    pet = await petstore_tools["get_pet_by_id"].invoke({"petId": 4}, None)
    assert pet["name"] == "Mochi" and pet["category"] == {"id": 3, "name": "Rabbits"}
    assert petstore_sim.state.requests[-1]["api_key"] == API_KEY  # the apiKey scheme's header
    pending = await petstore_tools["find_pets_by_status"].invoke({"status": "pending"}, None)
    assert sorted(p["name"] for p in pending) == ["Olive", "Pepper"]
    assert petstore_sim.state.requests[-1]["query"] == "status=pending"
    with pytest.raises(
        ConnectorError, match=r"Petstore answered 404 to get_pet_by_id \(GET /pet/\{petId\}\): Pet not found"
    ):
        await petstore_tools["get_pet_by_id"].invoke({"petId": 404}, None)


async def test_a_write_through_tools(petstore_tools: dict[str, Tool], petstore_sim: PetSim) -> None:
    body = {
        "name": "Pixel",
        "photoUrls": ["https://images.example/pets/pixel.jpg"],
        "category": {"id": 2, "name": "Cats"},
        "tags": [{"id": 7, "name": "kitten"}],
        "status": "available",
    }
    assert petstore_tools["add_pet"].validate({"body": body}) == []
    created = await petstore_tools["add_pet"].invoke({"body": body}, "act-1")
    assert created["id"] >= 1000 and created["name"] == "Pixel"
    assert petstore_sim.state.pets[created["id"]]["tags"] == [{"id": 7, "name": "kitten"}]
    last = petstore_sim.state.requests[-1]
    assert (last["method"], last["path"], last["content_type"]) == ("POST", "/pet", "application/json")
    assert last["idempotency_key"] is None
    order = await petstore_tools["place_order"].invoke(
        {"body": {"petId": created["id"], "quantity": 1}}, "act-2"
    )
    assert (await petstore_tools["get_order_by_id"].invoke({"orderId": order["id"]}, None))[
        "status"
    ] == "placed"
    deleted = await petstore_tools["delete_pet"].invoke({"petId": created["id"]}, "act-3")
    assert deleted == {"status": 200, "content_type": "text/plain", "text": "Pet deleted"}
    assert created["id"] not in petstore_sim.state.pets
    with pytest.raises(ConnectorError, match="Input error: photoUrls is required"):
        await petstore_tools["add_pet"].invoke({"body": {"name": "NoPhotos"}}, "act-4")


async def test_missing_credentials_are_named(petstore_sim: PetSim) -> None:
    connector = OpenAPIConnector(build_client(petstore_sim.url), {"spec": "petstore3"})
    with pytest.raises(ConnectorError, match="rejected the credentials") as caught:
        await connector.call(next(s for s in connector.operations() if s.name == "get_inventory"), {}, None)
    assert caught.value.status == 401
    await connector.aclose()


def test_registered() -> None:
    from connectors.registry import CONNECTOR_TYPES
    from connectors.simulators import SIMULATORS

    assert CONNECTOR_TYPES["openapi"] is OpenAPIConnector
    assert "openapi" not in SIMULATORS  # one connector kind, many APIs: the Petstore is one of them
    app = SIMULATORS["petstore"](seed=False)
    assert isinstance(app, FastAPI) and app.state.petstore.pets == {}
