"""Which connector classes and simulators exist, by kind.

Adding a system is one line in each table. The demo mounts `SIMULATORS[kind]()`
under `/sim/<name>/`; a connection of that kind then points its base_url there.

Both tables name their entries as "module:attribute" and import one only when
it is looked up: the simulators, zeep and the MCP SDK take seconds to import,
and a command that talks to one help desk needs none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from fastapi import FastAPI

    from connectors.base import Connector

T = TypeVar("T")


class LazyTable(Mapping[str, T], Generic[T]):
    """A read-only mapping whose values are imported on first lookup; keys are known up front."""

    def __init__(self, targets: dict[str, str]):
        self._targets = dict(targets)
        self._loaded: dict[str, T] = {}

    def __getitem__(self, key: str) -> T:
        if key not in self._loaded:
            module, _, attribute = self._targets[key].partition(":")
            self._loaded[key] = getattr(importlib.import_module(module), attribute)
        return self._loaded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def __contains__(self, key: object) -> bool:
        return key in self._targets


CONNECTOR_TYPES: Mapping[str, type[Connector]] = LazyTable(
    {
        "helpdesk": "connectors.helpdesk.client:HelpdeskConnector",
        "payments": "connectors.payments.client:PaymentsConnector",
        "crm": "connectors.crm.client:CrmConnector",
        # operations are the server's tools: await refresh() first
        "mcp": "connectors.mcp.client:McpConnector",
        "chat": "connectors.chat.client:ChatConnector",  # Slack Web API
        "tracker": "connectors.tracker.client:TrackerConnector",  # Linear GraphQL API
        "erp": "connectors.erp.client:ERPConnector",  # Northwind ERP, SOAP 1.1
        # any OpenAPI 3 document (config.spec); per-instance operations
        "openapi": "connectors.openapi.connector:OpenAPIConnector",
    }
)

# kind -> factory(**kwargs) -> the simulator's ASGI app, answering in the vendor's wire format.
SIMULATORS: Mapping[str, Callable[..., FastAPI]] = LazyTable(
    {
        "helpdesk": "connectors.helpdesk.simulator:create_app",
        "payments": "connectors.payments.simulator:create_app",
        "crm": "connectors.crm.simulator:create_app",
        "mcp": "connectors.mcp.demo_server:create_app",  # Northwind inventory MCP server at /sim/mcp/
        "chat": "connectors.chat.simulator:create_app",  # Slack workspace at /sim/chat/api/<method>
        "tracker": "connectors.tracker.simulator:create_app",  # Linear GraphQL at /sim/tracker/graphql
        "erp": "connectors.erp.simulator:create_app",  # SOAP at /sim/erp/, WSDL at /sim/erp/?wsdl
        "petstore": "connectors.openapi.petstore_simulator:create_app",  # Swagger Petstore for "openapi"
    }
)


def connector_type(kind: str) -> type[Connector]:
    """The connector class for `kind`, or a KeyError naming the known kinds."""
    try:
        return CONNECTOR_TYPES[kind]
    except KeyError:
        raise KeyError(
            f"unknown connector kind {kind!r}; known: {', '.join(sorted(CONNECTOR_TYPES))}"
        ) from None
