"""How many tokens a tool's definition costs a model, counted offline.

The count uses the bundled cl100k_base from `connectors.tokenizer` (the loader the
model layer uses too), so it never downloads. It is an estimate for budgets and
reports, not billing.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.tokenizer import cl100k


def count_json(value: Any) -> int:
    """Tokens of `value` as compact JSON (how tool schemas are sent)."""
    return len(cl100k().encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False)))


def tool_tokens(name: str, description: str, input_schema: dict[str, Any]) -> int:
    """Tokens of one tool definition: its name, description and input schema."""
    return count_json({"name": name, "description": description, "input_schema": input_schema})
