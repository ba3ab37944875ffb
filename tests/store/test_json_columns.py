"""Text from connected systems may carry NUL and lone surrogates; stored JSON never does, so
PostgreSQL can read every row back (and SQLite rows move to PostgreSQL unchanged)."""

from __future__ import annotations

from app.agent.ports import NewStep
from app.store.audit_chain import verify
from app.store.db import Database
from app.store.runs import SqlRunStore
from tests.support.runs import new_run


def test_steps_with_nul_and_lone_surrogates_are_stored_clean_and_the_rest_exactly(db: Database) -> None:
    store = SqlRunStore(db)
    run_id = new_run(db)
    assert store.claim("w1", 30) == run_id
    dirty = {"body": "a\x00b", "name": "\ud800x", "emoji": "ok 😀", "path": "C:\\u0000\\dir", "n": [1, None]}
    store.append_steps(run_id, "w1", [NewStep(kind="tool_call", name="read:1", data=dirty)])
    [step] = store.load(run_id).steps
    assert step.data == {
        "body": "ab",
        "name": "?x",
        "emoji": "ok 😀",
        "path": "C:\\u0000\\dir",
        "n": [1, None],
    }
    with db.read() as s:
        assert verify(s).ok  # the audit row of the step hashes what was stored
