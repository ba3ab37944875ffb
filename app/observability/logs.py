"""Log lines for people (text, the default) or for a log pipeline (JSON, one object a line).

Either way a line written while a run advances names the run (`run_id`), and, when
tracing is on, the trace and span it belongs to, so a log search and a trace view meet.
SWITCHBOARD_LOG_FORMAT=json picks JSON; SWITCHBOARD_LOG_LEVEL the level (INFO).
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import unquote

from app.observability import tracing
from app.observability.context import RUN_ID

# What every LogRecord carries; anything else on a record was passed in `extra=` and is kept.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "run_id", "taskName"}
# Libraries that say every request at INFO: enough at WARNING unless asked for (DEBUG).
_CHATTY = ("httpx", "httpcore")


class RunContext(logging.Filter):
    """Puts the run being advanced (if any) on every record as `run_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = RUN_ID.get()
        return True


def _trace_ids() -> dict[str, str]:
    if tracing.TRACER is None:
        return {}
    from opentelemetry.trace import get_current_span

    ctx = get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        run_id = getattr(record, "run_id", None)
        if run_id is not None:
            line["run_id"] = run_id
        line.update(_trace_ids())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        run_id = getattr(record, "run_id", None)
        if run_id is None:
            return text
        first, sep, rest = text.partition("\n")
        return f"{first} [run {run_id}]{sep}{rest}"


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record is emitted, not when logging was set up:
    a command run in-process (a test's captured stream) must not leave a handler on a dead one."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _: IO[str]) -> None:
        pass


def configure_logging(fmt: str = "text", level: str = "INFO", stream: IO[str] | None = None) -> None:
    """One handler on the root logger in the chosen format (calling again replaces it); an
    unknown format writes text and says so, rather than stopping a worker from starting."""
    asked = fmt.strip().lower()
    fmt = asked if asked in ("text", "json") else "text"
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_switchboard", False)]:
        root.removeHandler(h)
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler._switchboard = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RunContext())
    root.addHandler(handler)
    root.setLevel(level.upper())
    access = logging.getLogger("uvicorn.access")  # in every process that logs, server workers too
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
    if root.level > logging.DEBUG:
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
    if asked != fmt:
        logging.getLogger("switchboard").warning(
            "SWITCHBOARD_LOG_FORMAT must be text or json, not %r: writing text", asked
        )


def redact_query(text: str) -> str:
    """`text` with the value of every `token` in its query written [redacted], the parameter's
    name read as a URL's is (percent-decoded), as app.services.webhooks reads the token."""
    head, sep, query = text.partition("?")
    if not sep:
        return text
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        parts.append(f"{name}=[redacted]" if eq and unquote(name).strip().lower() == "token" else part)
    return head + sep + "&".join(parts)


class RedactTokens(logging.Filter):
    """An access line is the request line, query included: a `token` there (the token a webhook
    URL carries) is a secret, and is written [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        return True


def uvicorn_log_config(fmt: str) -> dict[str, Any] | None:
    """For uvicorn.run(log_config=…): its own text config, or None in JSON mode, so its access
    and error lines reach the root handler as JSON too. Either way its access lines go through
    RedactTokens (the text config's handler; `configure_logging` sets it on the logger)."""
    if fmt.strip().lower() == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    config["handlers"]["access"]["filters"] = ["redact_tokens"]
    return config
