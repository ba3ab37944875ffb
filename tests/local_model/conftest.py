"""Shared fixtures: one trained LocalModel per module, and help-desk tool specs."""

from __future__ import annotations

from typing import Any

import pytest

from app.llm.base import ToolSpec
from app.llm.local import LocalModel


def _spec(name: str, props: dict[str, Any], required: list[str]) -> ToolSpec:
    return ToolSpec(
        name=f"helpdesk__{name}",
        description=name.replace("_", " "),
        input_schema={
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        },
    )


TOOLS = {
    "add_comment": _spec(
        "add_comment",
        {"ticket_id": {"type": "integer"}, "body": {"type": "string"}, "public": {"type": "boolean"}},
        ["ticket_id", "body"],
    ),
    "update_ticket": _spec(
        "update_ticket",
        {
            "ticket_id": {"type": "integer"},
            "priority": {"type": "string"},
            "add_tags": {"type": "array", "items": {"type": "string"}},
        },
        ["ticket_id"],
    ),
    "create_ticket": _spec(
        "create_ticket",
        {
            "subject": {"type": "string"},
            "body": {"type": "string"},
            "requester_email": {"type": "string"},
            "priority": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        ["subject", "body", "requester_email"],
    ),
    "get_ticket": _spec("get_ticket", {"ticket_id": {"type": "integer"}}, ["ticket_id"]),
    "search_tickets": _spec("search_tickets", {"query": {"type": "string"}}, ["query"]),
    "search_articles": _spec("search_articles", {"query": {"type": "string"}}, ["query"]),
}


@pytest.fixture(scope="module")
def model() -> LocalModel:
    """Trained once per module; tests that add corrections build their own."""
    return LocalModel()


@pytest.fixture
def tools() -> list[ToolSpec]:
    return list(TOOLS.values())
