"""Connector kinds, found through the `switchboard.connectors` entry-point group.

The shipped kinds are declared in pyproject.toml like any other package's would
be; a new system is a distribution that adds one entry point. Simulators have
their own table (`connectors.simulators`): production code never imports them.
"""

from __future__ import annotations

from connectors.base import Connector
from connectors.plugins import PluginTable

CONNECTOR_TYPES: PluginTable[type[Connector]] = PluginTable("switchboard.connectors", "connector kind")


def connector_type(kind: str) -> type[Connector]:
    """The connector class for `kind`, or a KeyError naming the known kinds."""
    return CONNECTOR_TYPES.get_or_explain(kind)
