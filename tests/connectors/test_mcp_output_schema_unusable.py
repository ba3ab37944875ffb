"""A done MCP write stays done when its tool's output schema cannot be applied.

An answer without `isError` is the server saying the tool ran: a result off its output schema is
logged, never raised. So is a schema that is valid JSON Schema yet cannot be applied, such as one
whose `$ref` leads back to itself: were it raised after the write landed, the write (idempotency
"none") would be recorded as failed and a person's retry would send it a second time.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.connectors import test_mcp_answered_write_done as base

# Valid JSON Schema 2020-12 (check_schema accepts it), but applying it never ends.
LOOPING = {"type": "object", "$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}


async def test_a_write_done_with_a_looping_output_schema_is_done(monkeypatch: Any) -> None:
    tool = copy.deepcopy(base.TOOL)
    tool["outputSchema"] = LOOPING
    monkeypatch.setattr(base, "TOOL", tool)
    server = base.Server(list_fails_after_call=False, structured={"archived": True})
    try:
        result, error = await base._write(server)
    except RecursionError as exc:
        raise AssertionError(
            f"the write was done (server.done={server.done}) yet the call raised {exc!r}"
        ) from None
    assert server.done == ["7"]
    assert error is None, f"recorded as failed (a retry would send it again): {error}"
    assert result == {"archived": True}
