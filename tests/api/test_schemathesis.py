"""Property-based fuzzing of every operation in /openapi.json: no input gives a 5xx.

Schemathesis (https://schemathesis.readthedocs.io, its Python engine API) generates valid and
invalid requests from the API's own OpenAPI document: strings with NUL bytes (`allow_x00`) and
other unusual text, out-of-range numbers, wrong types, missing and extra fields. Each request
carries an admin token, so it reaches the route rather than the sign-in check. Generated NULs are
rare, so a second, deterministic pass puts one in every parameter and field of every operation.
Both run on SQLite and, where TEST_DATABASE_URL is set, on PostgreSQL, which refuses NUL in text.
The examples per operation are bounded so a run takes well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import HealthCheck
from schemathesis.engine import events
from starlette.testclient import TestClient

from app.api.app import create_app
from app.llm.local import LocalModel
from app.services.auth import create_token
from tests.support.app import container

EXAMPLES_PER_OPERATION = 12


@dataclass
class Target:
    schema: schemathesis.BaseSchema
    app: Any
    headers: dict[str, str]


@pytest.fixture
def target(db_url: str, tmp_path: Path) -> Iterator[Target]:
    c = container(db_url, tmp_path, LocalModel(), SWITCHBOARD_RATE_LIMIT="0")
    token = create_token(c.db, "fuzz-admin", "admin")[1]
    app = create_app(c)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.update(
        headers={"Authorization": f"Bearer {token}"},
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    schema.config.generation.update(
        max_examples=EXAMPLES_PER_OPERATION, allow_x00=True, codec="utf-8", deterministic=True
    )
    schema.config.phases.update(phases=["examples", "fuzzing"])
    schema.config.checks.update(included_check_names=["not_a_server_error"])
    yield Target(schema, app, {"Authorization": f"Bearer {token}"})
    c.db.dispose()


def test_no_input_gives_a_server_error(target: Target) -> None:
    """The engine runs the explicit examples and fuzzing phases over every operation; any 5xx, or an
    error of the engine itself, fails the test with the request that caused it."""
    problems: list[str] = []
    finished = 0
    for event in engine.from_schema(target.schema).execute():
        if isinstance(event, events.FatalError | events.NonFatalError):
            problems.append(f"{getattr(event, 'label', 'engine')}: {event.info.message}")
        recorder = getattr(event, "recorder", None)
        if recorder is None:
            continue
        finished += 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is None:
                    continue
                interaction = recorder.interactions.get(case_id)
                request = interaction.request if interaction else None
                where = f"{request.method} {request.uri}" if request else recorder.label
                body = (request.body or b"")[:300] if request else b""
                problems.append(f"{where} {body!r}: {check.failure_info.failure.title}")
    assert finished >= 20, f"only {finished} operations were exercised"
    assert problems == [], "\n".join(problems[:20])


def _body_fields(doc: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    content = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {})
    schema = content.get("schema", {})
    for option in [schema, *schema.get("anyOf", [])]:
        if "$ref" in option:
            schema = doc["components"]["schemas"][option["$ref"].rsplit("/", 1)[-1]]
            break
    return list(schema.get("properties", {}))


def test_nul_in_every_parameter_and_field_is_a_4xx(target: Target) -> None:
    """Hypothesis makes NUL bytes now and then; PostgreSQL fails on any one of them. So besides the
    fuzzing, every operation gets one request with a NUL in each path parameter, query parameter
    and top-level body field, and must refuse it with a 4xx."""
    with TestClient(target.app, raise_server_exceptions=False) as client:
        doc = client.get("/openapi.json").json()
        tried = 0
        for path, methods in doc["paths"].items():
            for method, operation in methods.items():
                params = operation.get("parameters", [])
                url = path
                for p in params:
                    if p["in"] == "path":
                        url = url.replace("{" + p["name"] + "}", quote("nul\x00here", safe=""))
                query = {p["name"]: "nul\x00here" for p in params if p["in"] == "query"}
                fields = _body_fields(doc, operation)
                body = {f: "nul\x00here" for f in fields} if fields else None
                if url == path and not query and body is None:
                    continue  # nothing that could carry text
                r = client.request(method.upper(), url, params=query, json=body, headers=target.headers)
                assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:300])
                tried += 1
        assert tried >= 15
