"""An in-memory 'system' whose operations are tools, for testing the gate."""

from __future__ import annotations

from typing import Any

from connectors.base import Effects, Message
from tools.base import Catalogue, Tool


class FakeSystem:
    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.reads: list[dict[str, Any]] = []
        self.seen_keys: set[str] = set()

    async def lookup(self, args: dict[str, Any], key: str | None) -> Any:
        self.reads.append(args)
        return {"order": args["order_id"], "status": "shipped", "email": "ann@example.com"}

    async def send(self, args: dict[str, Any], key: str | None) -> Any:
        if key in self.seen_keys:  # check-then-write, as a real connector does
            return {"sent": True, "deduplicated": True}
        self.seen_keys.add(key or "")
        self.writes.append({**args, "key": key})
        return {"sent": True, "message_id": len(self.writes)}

    def catalogue(self) -> Catalogue:
        return Catalogue(
            [
                Tool(
                    name="shop__lookup",
                    connection="shop",
                    operation="lookup",
                    description="look up an order",
                    input_schema={
                        "type": "object",
                        "properties": {"order_id": {"type": "integer"}},
                        "required": ["order_id"],
                        "additionalProperties": False,
                    },
                    effect="read",
                    idempotency="none",
                    invoke=self.lookup,
                ),
                Tool(
                    name="shop__send_message",
                    connection="shop",
                    operation="send_message",
                    description="send the customer a message",
                    input_schema={
                        "type": "object",
                        "properties": {"to": {"type": "string"}, "body": {"type": "string", "minLength": 1}},
                        "required": ["to", "body"],
                        "additionalProperties": False,
                    },
                    effect="write",
                    idempotency="check",
                    invoke=self.send,
                    effects=Effects(message=Message("public", ("body",))),
                ),
            ]
        )
