"""The one walk over JSON-like values that the gate and the injection scanner share."""

from __future__ import annotations

import re
from functools import lru_cache
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


def texts(value: Any) -> list[str]:
    """`strings`, and the keys that are text: a key of several words (a form's question, a
    custom field someone named) was written by a person, as a value is; an identifier key
    (`custom_fields`, `total_line_items_price_set`) is the system's, unless it spells an
    instruction (app.agent.injection.instruction_keys reads those)."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in ([k] if _is_text(k) else []) + texts(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in texts(v)]
    return strings(value)


_KEY_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+|[^\W\d_a-zA-Z]+")


def _is_text(key: Any) -> bool:
    return isinstance(key, str) and len(key.split()) > 1


def _is_identifier(key: str) -> bool:
    return _is_identifier_cached(key) if len(key) <= _CACHED_KEY_CHARS else _identifier(key)


def _identifier(key: str) -> bool:
    return not _is_text(key) and len(_KEY_WORDS.findall(key)) >= 3


# A system's records repeat the same few hundred keys in every read; a key longer than a field
# name is read each time rather than kept.
_CACHED_KEY_CHARS = 100
_is_identifier_cached = lru_cache(maxsize=4096)(_identifier)


def identifier_keys(value: Any) -> list[str]:
    """Every key inside `value` written as one identifier of three words or more."""
    if isinstance(value, dict):
        own = [k for k in value if isinstance(k, str) and _is_identifier(k)]
        return own + [k for v in value.values() for k in identifier_keys(v)]
    if isinstance(value, list | tuple):
        return [k for v in value for k in identifier_keys(v)]
    return []
