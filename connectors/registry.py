"""Which connector classes and simulators exist, by kind.

Adding a system is one line in each table. The demo mounts `SIMULATORS[kind]()`
under `/sim/<name>/`; a connection of that kind then points its base_url there.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from connectors.base import Connector
from connectors.chat import simulator as chat_simulator
from connectors.chat.client import ChatConnector
from connectors.crm import simulator as crm_simulator
from connectors.crm.client import CrmConnector
from connectors.erp import simulator as erp_simulator
from connectors.erp.client import ERPConnector
from connectors.helpdesk import simulator as helpdesk_simulator
from connectors.helpdesk.client import HelpdeskConnector
from connectors.mcp import demo_server as mcp_simulator
from connectors.mcp.client import McpConnector
from connectors.openapi import petstore_simulator
from connectors.openapi.connector import OpenAPIConnector
from connectors.payments import simulator as payments_simulator
from connectors.payments.client import PaymentsConnector
from connectors.shop import simulator as shop_simulator
from connectors.shop.client import ShopConnector
from connectors.tracker import simulator as tracker_simulator
from connectors.tracker.client import TrackerConnector
from connectors.warehouse import simulator as warehouse_simulator
from connectors.warehouse.client import WarehouseConnector

CONNECTOR_TYPES: dict[str, type[Connector]] = {
    HelpdeskConnector.kind: HelpdeskConnector,
    PaymentsConnector.kind: PaymentsConnector,
    CrmConnector.kind: CrmConnector,
    McpConnector.kind: McpConnector,  # operations are the server's tools: await refresh() first
    ChatConnector.kind: ChatConnector,  # Slack Web API
    TrackerConnector.kind: TrackerConnector,  # Linear GraphQL API
    ERPConnector.kind: ERPConnector,  # Northwind ERP, SOAP 1.1
    OpenAPIConnector.kind: OpenAPIConnector,  # any OpenAPI 3 document (config.spec); per-instance operations
    ShopConnector.kind: ShopConnector,  # Shopify Admin REST API
    WarehouseConnector.kind: WarehouseConnector,  # ShipStation API v2
}

# kind -> factory(**kwargs) -> the simulator's ASGI app, answering in the vendor's wire format.
SIMULATORS: dict[str, Callable[..., FastAPI]] = {
    HelpdeskConnector.kind: helpdesk_simulator.create_app,
    PaymentsConnector.kind: payments_simulator.create_app,
    CrmConnector.kind: crm_simulator.create_app,
    McpConnector.kind: mcp_simulator.create_app,  # Northwind inventory MCP server at /sim/mcp/
    ChatConnector.kind: chat_simulator.create_app,  # Slack workspace at /sim/chat/api/<method>
    TrackerConnector.kind: tracker_simulator.create_app,  # Linear GraphQL at /sim/tracker/graphql
    ERPConnector.kind: erp_simulator.create_app,  # SOAP at /sim/erp/, WSDL at /sim/erp/?wsdl
    "petstore": petstore_simulator.create_app,  # Swagger Petstore for kind "openapi" (spec "petstore3")
    ShopConnector.kind: shop_simulator.create_app,  # Shopify store at /sim/shop/admin/api/<version>/
    WarehouseConnector.kind: warehouse_simulator.create_app,  # ShipStation at /sim/warehouse/v2/
}


def connector_type(kind: str) -> type[Connector]:
    """The connector class for `kind`, or a KeyError naming the known kinds."""
    try:
        return CONNECTOR_TYPES[kind]
    except KeyError:
        raise KeyError(
            f"unknown connector kind {kind!r}; known: {', '.join(sorted(CONNECTOR_TYPES))}"
        ) from None
