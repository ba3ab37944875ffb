"""What is happening right now, for logs and spans: the run being advanced, the tool call made.

Plain context variables (standard library only), so any layer may set or read them: the
run id is bound while a run advances (every log line and span carries it), the tool call's
id while a tool runs (its span names the call the model made).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

RUN_ID: ContextVar[str | None] = ContextVar("switchboard_run_id", default=None)
RUN_KIND: ContextVar[str | None] = ContextVar("switchboard_run_kind", default=None)
TOOL_CALL_ID: ContextVar[str | None] = ContextVar("switchboard_tool_call_id", default=None)


def current_run_id() -> str | None:
    return RUN_ID.get()


@contextmanager
def bound_run(run_id: str, kind: str | None = None) -> Iterator[None]:
    """Everything logged or traced inside belongs to this run."""
    token, kind_token = RUN_ID.set(run_id), RUN_KIND.set(kind)
    try:
        yield
    finally:
        RUN_KIND.reset(kind_token)
        RUN_ID.reset(token)


def calling_tool(call_id: str) -> None:
    """The tool call about to run (the id the model gave it); read by the tool's span."""
    TOOL_CALL_ID.set(call_id)
