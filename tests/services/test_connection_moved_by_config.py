"""A connection with writes waiting is not moved to another system through its config either.

For some kinds the system a write goes to is not the row's base_url: an OpenAPI connection sends
every request to `config.base_url` when it is set, and reads its operations from `config.spec`;
an MCP connection talks to `config.url` (or runs `config.command`). Changing those keys while
writes wait would send a write approved for one system (or one operation) to another, so it is
refused as a base_url move is (`connections.MOVING_CONFIG`).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.services.connections import add_connection, update_connection
from app.services.errors import Conflict
from tests.services.test_connection_changes import c, pending_write  # noqa: F401  (the fixture)


def _pending(c: Any, connection: str, tool: str) -> None:  # noqa: F811
    pending_write(c, connection, tool, {"body": {"name": "Rex"}})


def _shop_with_a_write_waiting(c: Any) -> None:  # noqa: F811
    """An OpenAPI connection (the bundled petstore) with an add_pet waiting for a person."""
    add_connection(
        c.db,
        c.box,
        name="shop",
        kind="openapi",
        base_url="https://petstore.example.com/api/v3",
        config={"spec": "petstore3"},
        allow_private=True,
    )
    _pending(c, "shop", "add_pet")


def test_an_openapi_connection_with_writes_waiting_is_not_moved_by_config_base_url(c: Any) -> None:  # noqa: F811
    _shop_with_a_write_waiting(c)
    with pytest.raises(Conflict, match=r"cannot be moved"):
        # every request of this connection now goes to another system
        update_connection(
            c.db, c.box, "shop", config={"base_url": "https://other-shop.example.net/api"}, allow_private=True
        )


def test_an_mcp_connection_with_writes_waiting_is_not_moved_by_config_url(c: Any) -> None:  # noqa: F811
    add_connection(
        c.db,
        c.box,
        name="tools",
        kind="mcp",
        base_url="https://mcp.example.com",
        config={"url": "https://mcp.example.com/mcp"},
        allow_private=True,
    )
    _pending(c, "tools", "archive_ticket")
    with pytest.raises(Conflict, match=r"cannot be moved"):
        update_connection(
            c.db, c.box, "tools", config={"url": "https://mcp.other.example.net/mcp"}, allow_private=True
        )


def test_an_openapi_connection_with_writes_waiting_does_not_get_another_document(c: Any) -> None:  # noqa: F811
    _shop_with_a_write_waiting(c)  # proposed as petstore's POST /pet
    other = {
        "openapi": "3.1.0",
        "info": {"title": "Other", "version": "1"},
        "paths": {
            "/everything": {
                "delete": {"operationId": "addPet", "responses": {"204": {"description": "gone"}}}
            }
        },
    }
    with pytest.raises(Conflict, match=r"write"):
        # the waiting write's tool name now means DELETE /everything
        update_connection(c.db, c.box, "shop", config={"spec": other}, allow_private=True)
