"""An in-memory 'system' whose operations are tools, for testing the gate."""

from __future__ import annotations

from typing import Any

from app.agent.run import RunContext
from app.llm.base import Message as ModelMessage
from app.llm.base import ModelRequest, ModelResponse, ToolCall
from app.llm.scripted import tool_use
from connectors.base import ConnectorError, Effects, Message, tried_before
from tools.base import Catalogue, Tool


class FakeSystem:
    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.reads: list[dict[str, Any]] = []
        self.seen_keys: set[str] = set()
        self.looked: list[bool] = []  # per send: whether it looked for an earlier write with its key

    async def lookup(self, args: dict[str, Any], key: str | None) -> Any:
        self.reads.append(args)
        return {"order": args["order_id"], "status": "shipped", "email": "ann@example.com"}

    async def send(self, args: dict[str, Any], key: str | None) -> Any:
        # check-then-write, as a real connector does: it looks only if the key may have been used
        self.looked.append(tried_before())
        if self.looked[-1] and key in self.seen_keys:
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


class FlakySystem(FakeSystem):
    """Fails the next calls as told: ("send" | "lookup", ConnectorError) pairs, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[tuple[str, ConnectorError]] = []
        self.keys: list[str | None] = []

    def _maybe_fail(self, op: str) -> None:
        if self.failures and self.failures[0][0] == op:
            raise self.failures.pop(0)[1]

    async def send(self, args: dict[str, Any], key: str | None) -> Any:
        self.keys.append(key)
        self._maybe_fail("send")
        return await super().send(args, key)

    async def lookup(self, args: dict[str, Any], key: str | None) -> Any:
        self._maybe_fail("lookup")
        return await super().lookup(args, key)


async def loop(ctx: RunContext) -> dict[str, Any]:
    ctx.know(requester_email="ann@example.com", emails=["bob@example.com"])
    final = await ctx.agent_loop(
        "loop",
        ModelRequest(system="", messages=[ModelMessage(role="user", content="go")]),
        list(ctx.catalogue),
    )
    return {"answer": final.content}


def send(to: str, call_id: str) -> ToolCall:
    return ToolCall(id=call_id, name="shop__send_message", arguments={"to": to, "body": f"hello {to}"})


def two_sends() -> ModelResponse:
    """One model turn that proposes two sibling writes."""
    return ModelResponse(
        tool_calls=[send("ann@example.com", "c1"), send("bob@example.com", "c2")], stop_reason="tool_use"
    )


def one_send() -> ModelResponse:
    return tool_use("shop__send_message", {"to": "ann@example.com", "body": "hi"}, call_id="c1")
