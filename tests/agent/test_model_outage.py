"""A model that is rate limited or overloaded past its SDK's retries: the run waits, then goes on.

A passing model fault used to fail the run outright; now it goes back to the queue with
backoff like a connector outage, and only a fault a person must fix (a bad key, a bad
request) or one that outlasts MODEL_RETRIES passes fails it.
"""

from __future__ import annotations

from sqlalchemy import select, update

from app.agent.orchestrator import MODEL_RETRIES, Orchestrator
from app.agent.policy import Policy
from app.llm.base import ModelError, ModelRequest, ModelResponse
from app.llm.scripted import ScriptedModel, text
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import AuditEntry, Run
from tests.agent.fakes import FakeSystem
from tests.agent.test_run_loop import loop_pipeline
from tests.support.runs import new_run, status


class Flaky:
    """Fails the first `failures` calls with `error`, then answers from a script."""

    name = "flaky"

    def __init__(self, failures: int, error: ModelError, *answers: ModelResponse) -> None:
        self.failures = failures
        self.error = error
        self.inner = ScriptedModel(list(answers))

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        return await self.inner.complete(request)


def make(db: Database, model: Flaky) -> Orchestrator:
    cat = FakeSystem().catalogue()
    return Orchestrator(
        SqlRunStore(db),
        model,
        lambda: cat,
        lambda: Policy([]),
        {"test": loop_pipeline},
        lease_seconds=30,
        backoff_max=4,
    )


def due_now(db: Database, run_id: str) -> None:
    with db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(not_before=None))


async def test_rate_limited_model_requeues_the_run_until_it_answers(db: Database) -> None:
    limited = ModelError(
        "openai:x: HTTP 429, requests: Rate limit reached; gave up after 3 retries", retryable=True
    )
    orch = make(db, Flaky(2, limited, text("Order 7 ships tomorrow.")))
    run_id = new_run(db)
    for _ in range(2):
        assert await orch.run_once("w1") == run_id
        assert status(db, run_id) == "queued"
        with db.session() as s:
            run = s.get(Run, run_id)
            assert run is not None and "HTTP 429" in (run.error or "") and run.not_before is not None
            delay = (run.not_before - run.updated_at).total_seconds()
            assert 0 < delay <= 4 * 1.25  # never longer than the configured longest backoff
        due_now(db, run_id)
    await orch.run_once("w1")
    assert status(db, run_id) == "succeeded"
    with db.session() as s:
        retries = s.scalars(
            select(AuditEntry).where(AuditEntry.event == "run.retry_later", AuditEntry.subject_id == run_id)
        ).all()
    assert len(retries) == 2


async def test_a_fault_a_person_must_fix_fails_the_run_at_once(db: Database) -> None:
    bad_key = ModelError("openai:x: HTTP 401: authentication failed: check OPENAI_API_KEY")
    orch = make(db, Flaky(1, bad_key, text("never")))
    run_id = new_run(db)
    await orch.run_once("w1")
    assert status(db, run_id) == "failed"


async def test_a_rate_limit_that_does_not_pass_fails_the_run_in_the_end(db: Database) -> None:
    limited = ModelError("openai:x: HTTP 429", retryable=True)
    orch = make(db, Flaky(MODEL_RETRIES + 1, limited, text("too late")))
    run_id = new_run(db)
    for _ in range(MODEL_RETRIES):
        await orch.run_once("w1")
        assert status(db, run_id) == "queued"
        due_now(db, run_id)
    await orch.run_once("w1")
    assert status(db, run_id) == "failed"
