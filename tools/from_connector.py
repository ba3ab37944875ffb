"""Build tools from a connector instance: one tool per decorated operation.

A write runs only against the version of its operation it was proposed for (when both are
known): a system that redefines an operation under its name (MCP) cannot change what an
approved write does."""

from __future__ import annotations

from typing import Any

from connectors.base import Connector, ConnectorError, OperationSpec, version_proposed
from tools.base import Tool, tool_name


def tools_for(connection: str, connector: Connector, *, describe_as: str | None = None) -> list[Tool]:
    """Every operation of `connector` as a tool named `<connection>__<operation>`."""
    label = describe_as or connection
    tools = []
    for spec in connector.operations():
        tools.append(
            Tool(
                name=tool_name(connection, spec.name),
                connection=connection,
                operation=spec.name,
                description=f"[{label}, {spec.effect}] {spec.description}",
                input_schema=spec.input_schema,
                effect=spec.effect,
                idempotency=spec.idempotency,
                invoke=_bind(connector, spec),
                effects=spec.declared_effects,
                facts=type(connector).facts,
                tags=spec.tags,
                version=spec.version,
            )
        )
    return tools


def _bind(connector: Connector, spec: OperationSpec):  # type: ignore[no-untyped-def]
    async def invoke(arguments: dict[str, Any], idempotency_key: str | None) -> Any:
        wanted = version_proposed()
        if wanted is not None and spec.version != wanted:
            # The system changed the operation since the write was proposed: what a person
            # approved is not what would run.
            raise ConnectorError(
                f"not sent: {spec.name} is not the operation it was when this write was proposed "
                "(its system changed it since); dismiss it and propose it again",
                retryable=False,
            )
        return await connector.call(spec, arguments, idempotency_key)

    return invoke
