"""What the model sees of the help desk (tool names, descriptions, JSON Schemas) and
how connector kinds are registered."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from connectors.base import Connector
from connectors.helpdesk.client import HelpdeskConnector
from connectors.registry import CONNECTOR_TYPES, connector_type
from connectors.simulators import SIMULATORS
from tools.base import Tool
from tools.from_connector import tools_for

OPERATIONS = {
    "get_ticket": ("read", "none"),
    "list_comments": ("read", "none"),
    "search_tickets": ("read", "none"),
    "find_user": ("read", "none"),
    "get_user": ("read", "none"),
    "search_articles": ("read", "none"),
    "add_comment": ("write", "check"),
    "update_ticket": ("write", "check"),
    "create_ticket": ("write", "key"),
}


@pytest.fixture
def tools() -> dict[str, Tool]:
    connector = HelpdeskConnector(httpx.AsyncClient(base_url="https://acme.zendesk.com"))
    return {t.operation: t for t in tools_for("helpdesk", connector)}


def test_every_operation_is_a_tool_with_its_effect(tools: dict[str, Tool]) -> None:
    assert {op: (t.effect, t.idempotency) for op, t in tools.items()} == OPERATIONS
    for op, tool in tools.items():
        assert tool.name == f"helpdesk__{op}"
        assert tool.description.startswith(f"[helpdesk, {OPERATIONS[op][0]}] ")
        assert len(tool.description) > 40
        assert tool.input_schema["additionalProperties"] is False
        assert "idempotency_key" not in tool.input_schema["properties"]


def test_get_ticket_schema(tools: dict[str, Tool]) -> None:
    assert tools["get_ticket"].input_schema == {
        "type": "object",
        "properties": {"ticket_id": {"type": "integer"}},
        "required": ["ticket_id"],
        "additionalProperties": False,
    }
    assert tools["get_ticket"].validate({"ticket_id": 3}) == []
    assert tools["get_ticket"].validate({"ticket_id": "3"})  # a string is not an integer
    assert tools["get_ticket"].validate({"ticket_id": 3, "extra": 1})
    assert tools["get_ticket"].validate({})


def test_add_comment_schema(tools: dict[str, Tool]) -> None:
    schema = tools["add_comment"].input_schema
    assert schema["required"] == ["ticket_id", "body"]
    assert schema["properties"]["body"] == {"type": "string"}
    assert schema["properties"]["public"] == {"type": "boolean", "default": True}
    assert tools["add_comment"].validate({"ticket_id": 1, "body": "hi", "idempotency_key": "x"})


def test_update_ticket_schema(tools: dict[str, Tool]) -> None:
    tool = tools["update_ticket"]
    schema = tool.input_schema
    assert schema["required"] == ["ticket_id"]
    assert set(schema["properties"]) == {"ticket_id", "priority", "status", "add_tags", "assignee_email"}
    assert (
        tool.validate({"ticket_id": 1, "priority": "urgent", "status": "solved", "add_tags": ["vip"]}) == []
    )
    assert tool.validate({"ticket_id": 1, "priority": "critical"})
    assert tool.validate({"ticket_id": 1, "status": "closed"})  # only people close tickets
    assert tool.validate({"ticket_id": 1, "add_tags": "vip"})
    assert tool.validate({"ticket_id": 1, "priority": None}) == []


def test_create_ticket_and_search_articles_schemas(tools: dict[str, Tool]) -> None:
    assert tools["create_ticket"].input_schema["required"] == ["subject", "body", "requester_email"]
    limit = tools["search_articles"].input_schema["properties"]["limit"]
    assert limit == {"type": "integer", "minimum": 1, "maximum": 10, "default": 3}
    assert tools["search_articles"].validate({"query": "refund", "limit": 50})
    assert tools["search_tickets"].input_schema["required"] == ["query"]
    assert tools["find_user"].input_schema["properties"] == {"email": {"type": "string"}}


def test_registry_lists_the_helpdesk() -> None:
    assert CONNECTOR_TYPES["helpdesk"] is HelpdeskConnector
    assert connector_type("helpdesk") is HelpdeskConnector
    with pytest.raises(KeyError, match="helpdesk"):
        connector_type("fax")


# Kinds whose operations come from each connection (an OpenAPI document, an MCP server's tool list).
PER_CONNECTION = {"openapi", "mcp"}


@pytest.mark.parametrize("kind", sorted(set(CONNECTOR_TYPES) - PER_CONNECTION))
def test_every_declared_kind_has_described_operations(kind: str) -> None:
    cls = CONNECTOR_TYPES[kind]
    assert issubclass(cls, Connector) and cls.kind == kind
    assert cls.operations(), f"{kind} has no operations"
    assert all(spec.description for spec in cls.operations())


@pytest.mark.parametrize("name", sorted(SIMULATORS))
def test_every_simulator_builds(name: str) -> None:
    assert isinstance(SIMULATORS[name](seed=False), FastAPI)


def test_every_kind_but_per_connection_ones_has_a_simulator() -> None:
    assert set(CONNECTOR_TYPES) - PER_CONNECTION <= set(SIMULATORS)


def test_connectors_never_import_app() -> None:
    root = Path(__file__).resolve().parents[2] / "connectors"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n == "app" or n.startswith("app.")]
    assert offenders == []
