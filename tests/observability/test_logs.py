"""JSON log lines carry the run being advanced (and its trace); text stays the default."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.config import Settings
from app.observability.instrument import instrument
from app.observability.logs import configure_logging, uvicorn_log_config
from app.store.db import Database
from app.store.runs import SqlRunStore
from tests.support.runs import new_run
from tools.base import Catalogue

log = logging.getLogger("switchboard.test")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


async def noisy_pipeline(ctx: Any) -> dict[str, Any]:
    log.info("classifying", extra={"step": "classify"})
    return {}


def orchestrator(db: Database) -> Orchestrator:
    from app.llm.scripted import ScriptedModel

    return instrument(
        Orchestrator(
            SqlRunStore(db), ScriptedModel(), lambda: Catalogue(), lambda: Policy(), {"test": noisy_pipeline}
        )
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_json_lines_name_the_run_and_its_trace(
    db: Database, captured: io.StringIO, spans: InMemorySpanExporter
) -> None:
    configure_logging("json", "INFO", stream=captured)
    orch = orchestrator(db)
    run_id = new_run(db)
    log.warning("before any run")
    await orch.drain("w1")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    outside = next(line for line in lines if line["message"] == "before any run")
    assert "run_id" not in outside and outside["level"] == "WARNING"
    inside = next(line for line in lines if line["message"] == "classifying")
    assert inside["run_id"] == run_id
    assert inside["trace_id"] == run_id  # the run's trace
    assert inside["step"] == "classify"  # extra= fields are kept
    assert inside["logger"] == "switchboard.test"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_text_is_for_people_and_still_names_the_run(db: Database, captured: io.StringIO) -> None:
    configure_logging("text", "INFO", stream=captured)
    run_id = new_run(db)
    await orchestrator(db).drain("w1")
    [line] = [line for line in captured.getvalue().splitlines() if "classifying" in line]
    assert line.endswith(f"INFO switchboard.test: classifying [run {run_id}]")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_an_unknown_format_writes_text_and_says_so(captured: io.StringIO) -> None:
    configure_logging("xml", "INFO", stream=captured)
    [line] = captured.getvalue().splitlines()
    assert "SWITCHBOARD_LOG_FORMAT must be text or json, not 'xml': writing text" in line
    assert line.split(" ")[2] == "WARNING"


def test_format_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().log_format == "text"
    monkeypatch.setenv("SWITCHBOARD_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    assert uvicorn_log_config("json") is None  # uvicorn's own lines go to the JSON handler
    assert uvicorn_log_config("text") is not None
