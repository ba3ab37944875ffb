"""Which connector classes and simulators exist, by kind.

Adding a system is one line in each table. The demo mounts `SIMULATORS[kind]()`
under `/sim/<name>/`; a connection of that kind then points its base_url there.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from connectors.base import Connector
from connectors.helpdesk import simulator as helpdesk_simulator
from connectors.helpdesk.client import HelpdeskConnector

CONNECTOR_TYPES: dict[str, type[Connector]] = {
    HelpdeskConnector.kind: HelpdeskConnector,
}

# kind -> factory(**kwargs) -> the simulator's ASGI app, answering in the vendor's wire format.
SIMULATORS: dict[str, Callable[..., FastAPI]] = {
    HelpdeskConnector.kind: helpdesk_simulator.create_app,
}


def connector_type(kind: str) -> type[Connector]:
    """The connector class for `kind`, or a KeyError naming the known kinds."""
    try:
        return CONNECTOR_TYPES[kind]
    except KeyError:
        raise KeyError(
            f"unknown connector kind {kind!r}; known: {', '.join(sorted(CONNECTOR_TYPES))}"
        ) from None
