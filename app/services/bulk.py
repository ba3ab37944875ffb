"""Which pending actions may be decided in bulk, and why the others must be opened one by one.

A bulk approval is a glance, so it is kept for writes a person can take back: low risk, and
declared reversible, moving no money, final in nothing, and sending nothing customers read.
An action whose effects were never recorded counts as irreversible. The queue's "Select all
low-risk" offers only these, and the bulk endpoint refuses the rest whatever the page sent.
"""

from __future__ import annotations

from typing import Any


def bulk_refusal(action: dict[str, Any]) -> str | None:
    """None when `action` (an action view) may be approved in bulk; else why it must be opened."""
    if action.get("status") != "pending":
        return f"it is {action.get('status')}"
    if action.get("risk") != "low":
        return f"{action.get('risk')} risk"
    effects = action.get("effects") or {}
    if not effects:
        return "what it does was not recorded, so it counts as irreversible"
    if effects.get("money"):
        return "it moves money"
    if effects.get("final"):
        return "it is a final submission"
    if (effects.get("message") or {}).get("audience") == "public":
        return "it sends a message customers will read"
    if not effects.get("reversible"):
        return "it cannot be undone"
    return None
