"""An owner's narrow declaration is never widened by a broader one.

1. OpenAPI: an operation named in `write_operations` stays a write when a broader
   `read_only_operations` pattern ("POST /search*") also matches it.
2. Standing rules: "helpdesk__*" names the connection "helpdesk" only, never "helpdesk_"
   (whose tools' joined names, "helpdesk___<op>", the whole glob would match)."""

from __future__ import annotations

import httpx
import pytest

from app.agent.policy import Policy, StandingRule, new_facts
from app.services.connections import add_connection
from app.services.errors import Invalid
from app.store.crypto import SecretBox
from app.store.db import Database
from connectors.openapi import OpenAPIConnector
from tools.base import Tool, tool_name


def _op(operation_id: str) -> dict:
    return {"post": {"operationId": operation_id, "responses": {"200": {"description": "ok"}}}}


def test_an_operation_named_a_write_stays_a_write_whatever_read_pattern_matches_it() -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "Search", "version": "1"},
        "paths": {
            "/search": _op("search"),
            "/search/suggest": _op("suggest"),
            "/search/reindex": _op("reindexSearch"),  # drops and rebuilds the index
        },
    }
    connector = OpenAPIConnector(
        httpx.AsyncClient(base_url="https://search.example.test"),
        {"spec": spec, "read_only_operations": ["POST /search*"], "write_operations": ["reindexSearch"]},
    )
    effects = {s.name: s.effect for s in connector.operations()}
    assert effects["search"] == "read" and effects["suggest"] == "read"
    assert effects["reindex_search"] == "write", effects


async def _noop(arguments: dict, key: str | None) -> dict:
    return {}


def _tool(connection: str, operation: str) -> Tool:
    return Tool(
        name=tool_name(connection, operation),
        connection=connection,
        operation=operation,
        description=f"[{connection}, write] {operation}",
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
        effect="write",
        idempotency="none",
        invoke=_noop,
    )


def test_a_rule_for_one_connection_does_not_approve_another_connections_writes() -> None:
    """Connections named so before names were checked at both ends are still kept apart."""
    policy = Policy([StandingRule(tool="helpdesk__*", approved_by="lead", id="r1")])
    assert policy.decide(_tool("helpdesk_", "delete_all_tickets"), {}, new_facts()).needs_approval
    assert policy.decide(_tool("helpdesk-x", "delete_all_tickets"), {}, new_facts()).needs_approval
    covered = policy.decide(_tool("helpdesk", "add_tag"), {}, new_facts())
    assert not covered.needs_approval and "standing rule 'helpdesk__*'" in covered.reasons[-1]


@pytest.mark.parametrize("name", ["helpdesk_", "_helpdesk", "-crm", "crm-"])
def test_a_connection_name_cannot_end_in_a_separator(db: Database, name: str) -> None:
    with pytest.raises(Invalid, match="not at either end"):
        add_connection(
            db,
            SecretBox("a-test-key-of-sixteen-chars"),
            name=name,
            kind="mcp",
            base_url="https://tools.example.test/mcp",
            owner="ops",
            allow_private=True,
        )
