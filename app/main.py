"""The composition root: the one place that picks concrete classes.

Each part is imported where it is first built, so a command that only reads
the approval queue does not pay for the model, the pipelines or the connectors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from app.config import Settings

if TYPE_CHECKING:
    import httpx

    from app.agent.offload import Offload
    from app.agent.orchestrator import Orchestrator
    from app.agent.policy import Policy, StandingRule
    from app.agent.ports import ActionRecord
    from app.agent.worker import Background, Wakeup, Worker
    from app.llm.base import Model
    from app.llm.prompts import PromptLibrary
    from app.services.connections import ConnectorPool
    from app.services.deltas import DeltaBus
    from app.services.notify import ApprovalNotifier
    from app.store.crypto import SecretBox
    from app.store.db import Database
    from app.store.runs import SqlRunStore


@dataclass
class Container:
    settings: Settings
    model_override: Model | None = None
    transport: httpx.AsyncBaseTransport | None = None
    standing_rules: list[StandingRule] = field(default_factory=list)
    # Money writes made before this were made against systems since put away (a demo restart
    # starts its simulators from their seed): the finance checks do not count them.
    bookings_since: datetime | None = None

    @cached_property
    def wakeup(self) -> Wakeup:
        """Set when new work arrives, so an idle in-process worker claims it at once."""
        from app.agent.worker import Wakeup

        return Wakeup()

    @cached_property
    def tasks(self) -> Background:
        from app.agent.worker import Background

        return Background()

    def wake(self) -> None:
        """Nudge the in-process worker (safe from any thread)."""
        self.wakeup.set()

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine on the current loop, keeping a reference until it is done."""
        self.tasks.spawn(coro)

    def worker(self, *, concurrency: int | None = None, owner: str | None = None) -> Worker:
        """A worker loop over this orchestrator (run it with `await worker.run(stop)`)."""
        from app.agent.worker import Worker
        from app.store.signals import listen_for_queued, watch_for_queued

        if self.db.is_postgres:
            listen = partial(listen_for_queued, self.db.url)
        else:
            listen = partial(watch_for_queued, self.db.url, wanted=lambda: self.wakeup.listening)
        return Worker(
            self.orchestrator,
            concurrency=concurrency or self.settings.worker_concurrency,
            poll_seconds=self.settings.poll_seconds,
            wakeup=self.wakeup,
            owner=owner,
            listen=listen,
            prepare=self.warm_model,
        )

    async def warm_model(self) -> None:
        """Let the model do now what it would do at its first call (the local model fits its
        classifier for triage's taxonomy and the stored corrections: a second or more of CPU)."""
        warm = getattr(self.model, "warm", None)
        if warm is None:
            return
        await asyncio.to_thread(lambda: warm(self.taxonomy, self.corrections()))

    @cached_property
    def offload(self) -> Offload:
        """The threads store calls run on: as many as the database has connections."""
        from app.agent.offload import Offload

        return Offload(self.settings.db_pool_size)

    @cached_property
    def deltas(self) -> DeltaBus:
        """Live answer text of runs advanced in this process, for the chat stream."""
        from app.services.deltas import DeltaBus

        return DeltaBus()

    @cached_property
    def db(self) -> Database:
        from app.store.db import Database

        return Database(self.settings.resolved_database_url(), pool_size=self.settings.db_pool_size)

    @cached_property
    def box(self) -> SecretBox:
        """Raises MissingSecretKey without SWITCHBOARD_SECRET_KEY: there is no built-in fallback."""
        from app.store.crypto import MissingSecretKey, SecretBox

        if not self.settings.secret_key:
            raise MissingSecretKey()
        return SecretBox(self.settings.secret_key)

    @cached_property
    def prompts(self) -> PromptLibrary:
        from app.llm.prompts import default_library

        return default_library()

    @cached_property
    def model(self) -> Model:
        if self.model_override is not None:
            return self.model_override
        from app.llm.factory import build_model

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
        from app.services.connections import ConnectorPool

        return ConnectorPool(
            self.db,
            self.box,
            transport=self.transport,
            allow_private=self.settings.allow_private_network,
            concurrency=self.settings.connection_concurrency,
        )

    @cached_property
    def store(self) -> SqlRunStore:
        from app.services.approvals import rule_admission
        from app.store.runs import SqlRunStore

        return SqlRunStore(
            self.db,
            approval_ttl_hours=self.settings.approval_ttl_hours,
            admission=rule_admission(self.settings.two_approvers_above),
        )

    @property
    def taxonomy(self) -> list[dict[str, str]]:
        from app.services.triage import DEFAULT_TAXONOMY

        return DEFAULT_TAXONOMY

    def corrections(self) -> list[dict[str, str]]:
        from app.services.corrections import recent_examples

        return recent_examples(self.db)

    def policy(self) -> Policy:
        """Read fresh whenever a pass first proposes a write, so a revoked rule stops applying at once."""
        from app.services.rules import load_policy

        return load_policy(
            self.db,
            two_approvers_above=self.settings.two_approvers_above,
            extra=self.standing_rules,
            trusted_domains=self.settings.trusted_domains,
        )

    @cached_property
    def orchestrator(self) -> Orchestrator:
        from app.agent.limits import limit_model
        from app.agent.orchestrator import Orchestrator
        from app.observability.instrument import instrument
        from app.services.chat import ChatPipeline
        from app.services.finance import FinancePipeline
        from app.services.mcp_calls import mcp_call_pipeline
        from app.services.triage import TriagePipeline
        from app.services.workflows import WorkflowDraftPipeline, WorkflowRunPipeline, status_of

        triage = TriagePipeline(
            self.prompts,
            taxonomy=self.taxonomy,
            examples=self.corrections,
            review_threshold=self.settings.review_threshold,
            trusted_domains=self.settings.trusted_domains,
        )
        orchestrator = Orchestrator(
            self.store,
            limit_model(self.model, self.settings.model_concurrency),
            self.pool.load,
            self.policy,
            {
                "triage": triage,
                "chat": ChatPipeline(self.prompts, self.db),
                "record": FinancePipeline(
                    self.prompts, bookings=self._bookings, ledger_currency=self.settings.ledger_currency
                ),
                "mcp_call": mcp_call_pipeline,
                "workflow_draft": WorkflowDraftPipeline(self.prompts, self.db),
                "workflow": WorkflowRunPipeline(partial(status_of, self.db)),
            },
            lease_seconds=self.settings.lease_seconds,
            on_parked=self._on_parked(),
            on_succeeded=self._on_succeeded(),
            sweep_seconds=self.settings.sweep_seconds,
            backoff_max=self.settings.backoff_max_seconds,
            io=self.offload,
        )
        return instrument(orchestrator, otlp_endpoint=self.settings.otlp_endpoint)

    def _bookings(self, exclude_run: str) -> list[dict[str, Any]]:
        from app.services.bookings import own_bookings

        return own_bookings(self.db, exclude_run, since=self.bookings_since)

    def _on_parked(self) -> Callable[[str, list[ActionRecord]], Awaitable[None]]:
        """When a run waits for people: approve replies a person approved ahead, then announce the rest."""
        from app.services.followups import ReplyFollowUp

        follow_up = ReplyFollowUp(self.db, self.pool.catalogue)
        notifier = self._notifier()

        async def parked(run_id: str, actions: list[ActionRecord]) -> None:
            approved = await self.offload(follow_up, run_id) if follow_up.may_apply(actions) else 0
            if approved:
                self.wake()
            if notifier is not None:
                await notifier(run_id)

        return parked

    def _on_succeeded(self) -> Callable[[str, list[ActionRecord]], Awaitable[None]]:
        """When a run ends: a ticket it created keys its item (as when it parks, in the follow-up)."""
        from app.services.followups import ReplyFollowUp

        follow_up = ReplyFollowUp(self.db, self.pool.catalogue)

        async def succeeded(run_id: str, actions: list[ActionRecord]) -> None:
            if follow_up.may_apply(actions):
                await self.offload(follow_up.created, run_id)

        return succeeded

    def _notifier(self) -> ApprovalNotifier | None:
        if not self.settings.notify:
            return None
        from app.services.notify import ApprovalNotifier

        return ApprovalNotifier(self.db, self.pool, self.settings.notify, self.settings.public_url)
