"""A run whose requeue is lost with the database connection is picked up again, not orphaned.

When a passing fault sends a run back to the queue and the requeue itself fails (the same
dropped connection), the worker lets go of the run and leaves it to its lease. The release
that follows used to clear the lease too, leaving the run `running` under no lease, which no
worker ever claimed again: found by the fault tests cutting PostgreSQL connections.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from app.llm.base import ModelError
from app.llm.scripted import text
from app.store.db import Database
from app.store.runs import SqlRunStore
from tests.agent.test_model_outage import Flaky, make
from tests.support.runs import new_run, status


class DropsRequeue(SqlRunStore):
    def requeue(self, run_id: str, owner: str, *, error: str, delay: float) -> None:
        raise OperationalError(
            "UPDATE runs ...", {}, Exception("terminating connection due to administrator command")
        )


async def test_a_run_whose_requeue_failed_is_claimed_again(db: Database) -> None:
    limited = ModelError("openai:x: HTTP 429", retryable=True)
    orch = make(db, Flaky(1, limited, text("Order 7 ships tomorrow.")))
    orch.store = DropsRequeue(db)
    run_id = new_run(db)
    assert await orch.run_once("w1") == run_id
    assert status(db, run_id) == "running"  # left to its lease: no status could be written

    orch.store = SqlRunStore(db)
    assert await orch.run_once("w2") == run_id
    assert status(db, run_id) == "succeeded"
