"""Migration 0019: a standing rule whose arguments schema bounded nothing (patternProperties, or a
property read in another dialect or by reference) is revoked, audited, and no longer approves
anything. Rows are written as the code at 0018 wrote them, then the database is upgraded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app.services import audit as audit_service
from app.services import rules
from app.store.db import Database, upgrade
from app.store.tables import AuditEntry, StandingRuleRow

TAGS = {"type": "array", "maxItems": 2, "items": {"enum": ["vip", "refund"]}}
WIDE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"add_tags": TAGS},
    "patternProperties": {".*": {}},
}
NAMED = {"type": "object", "additionalProperties": False, "properties": {"add_tags": TAGS}}
DRAFT4 = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"body": {"$schema": "http://json-schema.org/draft-04/schema#", "const": "Thanks!"}},
}
# A value that merely looks like a keyword (inside an enum) is data, not a schema: left alone.
LISTED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {"note": {"enum": [{"$ref": "not a reference"}]}},
}


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    upgrade(db_url, "0018")
    database = Database(db_url)
    yield database
    database.dispose()


def test_rules_that_bound_nothing_are_revoked_and_the_rest_stay(db: Database, db_url: str) -> None:
    with db.session() as s:
        wide = StandingRuleRow(tool="helpdesk__update_ticket", arguments_schema=WIDE, approved_by="root")
        named = StandingRuleRow(tool="helpdesk__update_ticket", arguments_schema=NAMED, approved_by="root")
        bare = StandingRuleRow(tool="helpdesk__add_tags", arguments_schema=None, approved_by="root")
        old = StandingRuleRow(tool="helpdesk__add_comment", arguments_schema=DRAFT4, approved_by="root")
        listed = StandingRuleRow(tool="helpdesk__add_comment", arguments_schema=LISTED, approved_by="root")
        s.add_all([wide, named, bare, old, listed])
        s.flush()
        ids = {"wide": wide.id, "named": named.id, "bare": bare.id, "old": old.id, "listed": listed.id}
    assert len(rules.load_policy(db, two_approvers_above=50_000).standing_rules) == 5

    upgrade(db_url)

    in_force = {r.id for r in rules.load_policy(db, two_approvers_above=50_000).standing_rules}
    assert in_force == {ids["named"], ids["bare"], ids["listed"]}
    with db.session() as s:
        assert s.get(StandingRuleRow, ids["wide"]).revoked_at is not None  # type: ignore[union-attr]
        rows = s.scalars(select(AuditEntry).where(AuditEntry.actor == "migration:0019")).all()
        found = {r.subject_id: r.data["found"] for r in rows}
        assert {r.event for r in rows} == {"rule.revoked"}
        assert found == {ids["wide"]: ["patternProperties"], ids["old"]: ["properties/body/$schema"]}
    assert audit_service.verify(db).ok
