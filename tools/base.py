"""The tool catalogue: connector operations (and built-ins) as model-callable tools.

A tool has a name, a description, a JSON Schema, an effect and an idempotency
mode. Arguments from a model are validated against the schema before anything
runs; a validation error is returned as text for the model to read and fix.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator

from connectors.base import READ_EFFECTS, Effect, Effects, Facts, Idempotency

Invoke = Callable[[dict[str, Any], str | None], Awaitable[Any]]
# What an answer of the tool's system establishes for the gate (its connector's `facts`).
FactsOf = Callable[[Any], Facts]

# Vendors allow ^[a-zA-Z0-9_-]{1,64}$ in tool names; "connection__operation" fits everywhere.
SEPARATOR = "__"
_NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def tool_name(connection: str, operation: str) -> str:
    name = f"{connection}{SEPARATOR}{operation}"
    if not _NAME_OK.match(name):
        raise ValueError(f"tool name {name!r} is not allowed; use letters, digits, _ and -, at most 64")
    return name


@dataclass(frozen=True)
class Tool:
    name: str
    connection: str
    operation: str
    description: str
    input_schema: dict[str, Any]
    effect: Effect
    idempotency: Idempotency
    invoke: Invoke
    # What a write does (money, message, reversible, final), as its connector declares it;
    # left out, a write counts as irreversible and moving nothing the gate could check.
    effects: Effects | None = None
    # Turns the tool's answers into the gate's facts; None: the system states none.
    facts: FactsOf | None = None
    # What the operation is for ("refund", "issue"), as its connector tags it.
    tags: tuple[str, ...] = ()
    # Its operation's `OperationSpec.version`: kept with a proposed write, checked when it runs.
    version: str | None = None

    def __post_init__(self) -> None:
        if self.effects is None:
            object.__setattr__(self, "effects", READ_EFFECTS if self.effect == "read" else Effects())

    @property
    def does(self) -> Effects:
        """The declared effects (never None after construction)."""
        assert self.effects is not None
        return self.effects

    @property
    def is_write(self) -> bool:
        return self.effect == "write"

    @cached_property
    def _validator(self) -> Draft202012Validator:
        """Built once per tool: a tool's schema does not change while it is in a catalogue."""
        return Draft202012Validator(self.input_schema)

    def validate(self, arguments: Any) -> list[str]:
        """Every way the arguments break the schema, as 'path: message' lines."""
        if not isinstance(arguments, dict):
            return [f"arguments must be a JSON object, got {type(arguments).__name__}"]
        errors = []
        for err in sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            errors.append(f"{where}: {err.message}")
        return errors


class UnknownTool(KeyError):
    pass


class Catalogue:
    """All the tools a run may offer, by name."""

    def __init__(self, tools: Iterable[Tool] = ()):
        self._tools: dict[str, Tool] = {}
        # Connections that are stored but offer no tools here, and why (a connector that cannot
        # be built): a run that needs one fails saying so, rather than doing nothing.
        self.unavailable: dict[str, str] = {}
        for t in tools:
            self.add(t)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"duplicate tool {tool.name}")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def select(
        self, *, effects: Iterable[Effect] | None = None, connections: Iterable[str] | None = None
    ) -> list[Tool]:
        eff = set(effects) if effects is not None else None
        con = set(connections) if connections is not None else None
        return [
            t
            for t in self._tools.values()
            if (eff is None or t.effect in eff) and (con is None or t.connection in con)
        ]
