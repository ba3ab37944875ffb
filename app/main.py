"""The composition root: the one place that picks concrete classes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx
from sqlalchemy import select

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy, StandingRule
from app.config import Settings
from app.llm.base import Model
from app.llm.factory import build_model
from app.llm.prompts import PromptLibrary, default_library
from app.services.chat import ChatPipeline
from app.services.connections import ConnectorPool
from app.services.deltas import DeltaBus
from app.services.finance import FinancePipeline
from app.services.mcp_calls import mcp_call_pipeline
from app.services.notify import ApprovalNotifier
from app.services.rules import load_policy
from app.services.triage import DEFAULT_TAXONOMY, TriagePipeline
from app.services.workflows import WorkflowDraftPipeline, WorkflowRunPipeline
from app.store.crypto import SecretBox
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Correction

DEV_SECRET = "switchboard-demo-secret-not-for-production"


@dataclass
class Container:
    settings: Settings
    model_override: Model | None = None
    transport: httpx.AsyncBaseTransport | None = None
    standing_rules: list[StandingRule] = field(default_factory=list)
    _wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = field(
        default=None, init=False, repr=False
    )

    @property
    def wake_event(self) -> asyncio.Event:
        """An event the in-process worker waits on; set when new work arrives."""
        if self._wake is None:
            self._wake = (asyncio.get_running_loop(), asyncio.Event())
        return self._wake[1]

    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, init=False, repr=False)

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine on the current loop, keeping a reference until it is done."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def wake(self) -> None:
        """Nudge the in-process worker (safe from any thread)."""
        if self._wake is not None:
            loop, event = self._wake
            loop.call_soon_threadsafe(event.set)

    @cached_property
    def deltas(self) -> DeltaBus:
        """Live answer text of runs advanced in this process, for the chat stream."""
        return DeltaBus()

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.resolved_database_url())

    @cached_property
    def box(self) -> SecretBox:
        return SecretBox(self.settings.secret_key or DEV_SECRET)

    @cached_property
    def prompts(self) -> PromptLibrary:
        return default_library()

    @cached_property
    def model(self) -> Model:
        if self.model_override is not None:
            return self.model_override
        return build_model(
            self.settings.model,
            anthropic_api_key=self.settings.anthropic_api_key,
            openai_api_key=self.settings.openai_api_key,
            openai_base_url=self.settings.openai_base_url,
            local_factory=self._local_model,
        )

    def _local_model(self) -> Model:
        from app.llm.local import LocalModel

        return LocalModel(
            review_threshold=self.settings.review_threshold, features=self.settings.local_features
        )

    @cached_property
    def pool(self) -> ConnectorPool:
        return ConnectorPool(self.db, self.box, transport=self.transport)

    @cached_property
    def store(self) -> SqlRunStore:
        return SqlRunStore(self.db, approval_ttl_hours=self.settings.approval_ttl_hours)

    @property
    def taxonomy(self) -> list[dict[str, str]]:
        return DEFAULT_TAXONOMY

    def corrections(self) -> list[dict[str, str]]:
        with self.db.session() as s:
            rows = s.scalars(
                select(Correction)
                .where(Correction.field == "category")
                .order_by(Correction.created_at.desc())
                .limit(200)
            ).all()
            return [{"text": r.text, "category": r.value} for r in rows]

    def policy(self) -> Policy:
        """Read fresh for every run, so a revoked rule stops applying at once."""
        return load_policy(
            self.db, two_approvers_above=self.settings.two_approvers_above, extra=self.standing_rules
        )

    @cached_property
    def orchestrator(self) -> Orchestrator:
        triage = TriagePipeline(
            self.prompts,
            taxonomy=self.taxonomy,
            examples=self.corrections,
            review_threshold=self.settings.review_threshold,
        )
        return Orchestrator(
            self.store,
            self.model,
            self.pool.load,
            self.policy,
            {
                "triage": triage,
                "chat": ChatPipeline(self.prompts, self.db),
                "record": FinancePipeline(self.prompts),
                "mcp_call": mcp_call_pipeline,
                "workflow_draft": WorkflowDraftPipeline(self.prompts, self.db),
                "workflow": WorkflowRunPipeline(),
            },
            lease_seconds=self.settings.lease_seconds,
            on_parked=self._notifier(),
            sweep_seconds=self.settings.sweep_seconds,
        )

    def _notifier(self) -> ApprovalNotifier | None:
        if not self.settings.notify:
            return None
        return ApprovalNotifier(self.db, self.pool, self.settings.notify, self.settings.public_url)
