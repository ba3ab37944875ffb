"""The one walk over JSON-like values that the gate and the injection scanner share."""

from __future__ import annotations

from typing import Any


def strings(value: Any) -> list[str]:
    """Every string value inside `value`, in order (dict keys are the system's, not text)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []
