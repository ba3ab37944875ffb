"""SQLAlchemy tables. Portable across SQLite and PostgreSQL (JSON, not JSONB)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Item(Base):
    """A ticket or financial record as it came in; the run works on it."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("kind", "source", "external_id", name="uq_items_source_external"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))  # ticket | record
    source: Mapped[str] = mapped_column(String(100), default="api")
    external_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_claim", "status", "lease_expires_at"),
        # The runs list's keyset pages (app/services/paging.py), by status or not.
        Index("ix_runs_status_created_id", "status", "created_at", "id"),
        Index("ix_runs_created_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))  # triage | record | chat | workflow
    # queued | running | waiting_approval | needs_attention | succeeded | failed | cancelled
    status: Mapped[str] = mapped_column(String(20), default="queued")
    item_id: Mapped[str | None] = mapped_column(ForeignKey("items.id"))
    input: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    classification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str | None] = mapped_column(String(100))
    conversation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # After a passing fault (outage, dropped database connection) a queued run waits until
    # not_before; retries counts such faults in a row, for the backoff.
    not_before: Mapped[datetime | None] = mapped_column()
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Step(Base):
    """Append-only: one model call, tool call, decision or note of a run."""

    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_steps_run_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))  # uq_steps_run_seq leads with it
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prompt_version: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Action(Base):
    """A proposed write waiting for, or past, a person's decision."""

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("run_id", "tool_call_id", name="uq_actions_run_call"),
        # The approvals list's keyset pages (app/services/paging.py), by status or not.
        Index("ix_actions_status_created_id", "status", "created_at", "id"),
        Index("ix_actions_created_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))  # uq_actions_run_call leads with it
    tool_call_id: Mapped[str] = mapped_column(String(100))
    tool: Mapped[str] = mapped_column(String(200))
    connection: Mapped[str] = mapped_column(String(100))
    operation: Mapped[str] = mapped_column(String(100))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON)
    proposed_arguments: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending | approved | executing | succeeded | failed | dismissed | rejected | expired
    status: Mapped[str] = mapped_column(String(20), default="pending")
    risk: Mapped[str] = mapped_column(String(10), default="low")
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # What the write does (tools.base.Tool.does.summary): money, message audience, reversible, final.
    effects: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Where each argument value came from (a trusted fact, the classifier, the model, untrusted text).
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The facts the gate checked the write against, so an edited write is checked the same way.
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The version of its operation it was proposed for (tools.base.Tool.version): it runs only
    # against that one, so a system that redefines the operation cannot change what was approved.
    tool_version: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str | None] = mapped_column(String(100))
    required_approvals: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    approvals: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column()
    executed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    # Read by the record a row concerns: an action's attempts, a workflow's history.
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id", "event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str | None] = mapped_column(String(30))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The hash chain (app/store/audit_chain.py): filled in at commit, never updated after.
    chain_seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class Connection(Base):
    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    base_url: Mapped[str] = mapped_column(String(500))
    auth_type: Mapped[str] = mapped_column(String(30), default="none")
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="unknown")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[datetime | None] = mapped_column()
    token_expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped by every edit a person makes: running processes rebuild a connector built from an older one.
    revision: Mapped[int] = mapped_column(Integer, server_default="1")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    # A web sign-in's token: the API token it was made with, whose person and role it carries.
    session_of: Mapped[str | None] = mapped_column(String(32))


class Correction(Base):
    """A person's fix to a classification; the local model learns from these."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(String(30), default="category")
    value: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[str | None] = mapped_column(String(32))
    by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StandingRuleRow(Base):
    """A person's standing approval for a kind of write, within limits."""

    __tablename__ = "standing_rules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tool: Mapped[str] = mapped_column(String(200))
    max_risk: Mapped[str] = mapped_column(String(10), default="low")
    max_amount: Mapped[int | None] = mapped_column(Integer)
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The arguments the rule allows: a JSON Schema an admin wrote (enums, ranges); None: facts only.
    arguments_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class Workflow(Base):
    """An automation drafted from a sentence; runs only after a person activates it."""

    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    request: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    # draft | active | paused | superseded (a later version was activated)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    # Every version of one workflow shares the first version's id; edits make a new version.
    family_id: Mapped[str | None] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # A scheduled workflow's next slot (UTC); workers claim a slot by moving it on.
    schedule_next_at: Mapped[datetime | None] = mapped_column(index=True)
    trigger_connection: Mapped[str | None] = mapped_column(String(100), index=True)
    trigger_event: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str | None] = mapped_column(String(100))
    activated_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column()
