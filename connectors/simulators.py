"""Simulators by name, found through the `switchboard.simulators` entry-point group.

Each is a factory(**kwargs) returning an ASGI app that answers in its vendor's
wire format; the demo mounts `SIMULATORS[name]()` under `/sim/<name>/`. Only
the demo, the evals and the tests use this table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.plugins import PluginTable

SIMULATORS: PluginTable[Callable[..., Any]] = PluginTable("switchboard.simulators", "simulator")
