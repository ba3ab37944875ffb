"""Tools for policy tests, built from the shipped connectors' own declarations."""

from __future__ import annotations

from typing import Any

from connectors.base import Connector, Effects
from connectors.chat.client import ChatConnector
from connectors.crm.client import CrmConnector
from connectors.erp.client import ERPConnector
from connectors.helpdesk.client import HelpdeskConnector
from connectors.payments.client import PaymentsConnector
from connectors.shop.client import ShopConnector
from connectors.tracker.client import TrackerConnector
from connectors.warehouse.client import WarehouseConnector
from tools.base import Tool

SHIPPED: dict[str, type[Connector]] = {
    "helpdesk": HelpdeskConnector,
    "payments": PaymentsConnector,
    "crm": CrmConnector,
    "chat": ChatConnector,
    "erp": ERPConnector,
    "tracker": TrackerConnector,
    "warehouse": WarehouseConnector,
    "shop": ShopConnector,
}


async def _noop(args: dict[str, Any], key: str | None) -> Any:
    return None


def tool(name: str, effect: str = "write", *, effects: Effects | None = None) -> Tool:
    """`connection__operation` as a tool; a shipped operation brings its declared effect and effects."""
    connection, operation = name.split("__")
    kind = SHIPPED.get(connection)
    spec = next((s for s in kind.operations() if s.name == operation), None) if kind else None
    if kind is not None and spec is not None and effects is None:
        return Tool(
            name,
            connection,
            operation,
            "",
            {"type": "object"},
            spec.effect,
            spec.idempotency,
            _noop,
            spec.declared_effects,
            kind.facts,
        )
    return Tool(name, connection, operation, "", {"type": "object"}, effect, "key", _noop, effects)  # type: ignore[arg-type]
