"""Things found through Python entry points: a new system is a package, not an edit here.

A distribution registers a connector class under the `switchboard.connectors`
group (name = the connector's kind) and, if it has one, its simulator's ASGI
app factory under `switchboard.simulators`. Nothing is imported until it is
asked for, so listing kinds costs no vendor SDK.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PluginTable(Mapping[str, T], Generic[T]):
    """Entry points of one group as a read-only mapping, loaded on first use of each name.

    Names are read again when one is asked for that was not there before, so a
    distribution installed while the process runs is found too."""

    def __init__(self, group: str, what: str):
        self.group = group
        self.what = what
        self._points: dict[str, EntryPoint] | None = None
        self._loaded: dict[str, T] = {}

    def _scan(self) -> dict[str, EntryPoint]:
        self._points = {ep.name: ep for ep in entry_points(group=self.group)}
        return self._points

    def _names(self) -> dict[str, EntryPoint]:
        return self._points if self._points is not None else self._scan()

    def __getitem__(self, name: str) -> T:
        if name in self._loaded:
            return self._loaded[name]
        points = self._names()
        if name not in points:
            points = self._scan()
        if name not in points:
            raise KeyError(name)
        value: Any = points[name].load()
        self._loaded[name] = value
        return value  # type: ignore[no-any-return]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._names() or name in self._scan()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._scan()))

    def __len__(self) -> int:
        return len(self._scan())

    def get_or_explain(self, name: str) -> T:
        """The entry named `name`, or a KeyError that lists what is installed."""
        try:
            return self[name]
        except KeyError:
            known = ", ".join(sorted(self._scan())) or "none (is the package installed? pip install -e .)"
            raise KeyError(f"unknown {self.what} {name!r}; known: {known}") from None
