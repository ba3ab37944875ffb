"""Operational alerts to a chat channel: what an operator must hear about without watching a dashboard.

Four rules, read from the database (so every worker's doing counts, whichever process
evaluates) on a schedule in the API process:

- a credential about to expire (or expired) that the connection cannot renew by itself;
- an error spike: failed runs, or failed writes and failing calls on one connection;
- a rate-limit storm: calls a system refused with 429 and that were retried;
- approvals that have waited longer than their target.

Each alert has a key that stays the same while its condition lasts; one is posted at most
once per repeat period (an `alert.sent` audit row, and the chat connector's idempotency key
for two processes deciding at once), never once per evaluation. The wording is Switchboard's
own (counts, names, links), never text from a system or a model. Configured with
SWITCHBOARD_ALERTS ("CONNECTION:#channel") and SWITCHBOARD_ALERT_* thresholds; a rule at 0 is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.observability.metrics import REGISTRY
from app.services.connections import OAUTH, RETRIED, ConnectorPool
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Action, AuditEntry, Connection, Run, utcnow

log = logging.getLogger("switchboard.alerts")

SENT = "alert.sent"
ALERTS_SENT = Counter(
    "switchboard_alerts_sent_total", "Alerts posted to the chat channel, by rule", ["rule"], registry=REGISTRY
)


@dataclass(frozen=True)
class Rules:
    window: timedelta = timedelta(minutes=15)
    repeat: timedelta = timedelta(minutes=60)
    errors: int = 10
    rate_limited: int = 20
    approval_age: timedelta = timedelta(hours=4)
    credential_horizon: timedelta = timedelta(hours=72)

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            window=timedelta(minutes=settings.alert_window_minutes),
            repeat=timedelta(minutes=max(settings.alert_repeat_minutes, 1.0)),
            errors=settings.alert_errors,
            rate_limited=settings.alert_rate_limited,
            approval_age=timedelta(hours=settings.alert_approval_hours),
            credential_horizon=timedelta(hours=settings.alert_credential_hours),
        )


@dataclass(frozen=True)
class Alert:
    rule: str  # credential | errors | rate_limit | approvals
    key: str  # the same while the condition lasts (at most 64 characters: an audit subject id)
    text: str


def _key(*parts: str) -> str:
    key = ":".join(parts)
    if len(key) <= 64:
        return key
    return f"{parts[0]}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def _span(delta: timedelta) -> str:
    """'3 days', '5 hours', '12 minutes': how long, in words."""
    seconds = abs(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "under a minute"


def _window(rules: Rules) -> str:
    return f"the last {_span(rules.window)}"


def credential_alerts(s: Session, rules: Rules, now: datetime) -> list[Alert]:
    """Expiring credentials the connection will not renew itself: not OAuth, or its refresh failed."""
    if rules.credential_horizon <= timedelta(0):
        return []
    rows = s.execute(
        select(Connection.name, Connection.auth_type, Connection.status, Connection.token_expires_at).where(
            Connection.token_expires_at.is_not(None),
            Connection.token_expires_at < now + rules.credential_horizon,
        )
    ).all()
    out = []
    for name, auth_type, status, expires in rows:
        if expires is None or (auth_type in OAUTH and status != "error"):
            continue  # renews itself on its next call
        left = expires - now
        when = f"expired {_span(left)} ago" if left.total_seconds() < 0 else f"expires in {_span(left)}"
        renew = " and could not be renewed" if auth_type in OAUTH else ""
        out.append(
            Alert(
                "credential",
                _key("credential", name, expires.strftime("%Y%m%d%H%M")),
                f"The credential of connection {name} {when}{renew}: /ui/connections",
            )
        )
    return out


def _names(s: Session) -> dict[str, str]:
    return dict(s.execute(select(Connection.id, Connection.name)).tuples().all())


def _calls(s: Session, since: datetime) -> tuple[Tally[str], Tally[str], dict[str, float]]:
    """Per connection in the window: failing calls (retried 5xx/network, failed checks), 429s, 429 waits."""
    failing: Tally[str] = Tally()
    limited: Tally[str] = Tally()
    waited: dict[str, float] = {}
    rows = s.execute(
        select(AuditEntry.event, AuditEntry.subject_id, AuditEntry.data).where(
            AuditEntry.at >= since, AuditEntry.event.in_([RETRIED, "connection.checked"])
        )
    ).all()
    for event, subject, data in rows:
        data = data or {}
        if event == RETRIED and data.get("status") == 429:
            limited[str(subject)] += 1
            wait = data.get("wait_seconds")
            waited[str(subject)] = waited.get(str(subject), 0.0) + (
                wait if isinstance(wait, int | float) else 0
            )
        elif event == RETRIED or data.get("status") == "error":
            failing[str(subject)] += 1
    return failing, limited, waited


def error_alerts(s: Session, rules: Rules, now: datetime, failing: Tally[str]) -> list[Alert]:
    if rules.errors <= 0:
        return []
    since = now - rules.window
    out = []
    runs = s.scalar(select(func.count()).where(Run.status == "failed", Run.updated_at >= since)) or 0
    if runs >= rules.errors:
        out.append(Alert("errors", "errors:runs", f"{runs} runs failed in {_window(rules)}: /ui/dashboard"))
    names = _names(s)
    per_connection: Tally[str] = Tally({names.get(k, k): n for k, n in failing.items()})
    for connection, n in s.execute(
        select(Action.connection, func.count())
        .where(Action.status == "failed", Action.executed_at >= since)
        .group_by(Action.connection)
    ).tuples():
        per_connection[connection] += n
    for connection, n in sorted(per_connection.items()):
        if n >= rules.errors:
            out.append(
                Alert(
                    "errors",
                    _key("errors", connection),
                    f"Connection {connection}: {n} failed calls or writes in {_window(rules)}; "
                    "see /ui/connections and the queue's Failed tab.",
                )
            )
    return out


def rate_limit_alerts(s: Session, rules: Rules, limited: Tally[str], waited: dict[str, float]) -> list[Alert]:
    if rules.rate_limited <= 0:
        return []
    names = _names(s) if limited else {}
    out = []
    for subject, n in sorted(limited.items()):
        if n < rules.rate_limited:
            continue
        connection = names.get(subject, subject)
        out.append(
            Alert(
                "rate_limit",
                _key("rate_limit", connection),
                f"Connection {connection} is rate limiting: {n} calls refused with 429 and retried in "
                f"{_window(rules)} ({waited.get(subject, 0):g} s spent waiting); consider lowering its "
                "rate_limit: /ui/connections",
            )
        )
    return out


def approval_alerts(s: Session, rules: Rules, now: datetime) -> list[Alert]:
    if rules.approval_age <= timedelta(0):
        return []
    n, oldest = s.execute(
        select(func.count(), func.min(Action.created_at)).where(
            Action.status == "pending", Action.created_at < now - rules.approval_age
        )
    ).one()
    if not n:
        return []
    return [
        Alert(
            "approvals",
            "approvals:overdue",
            f"{n} approval{'s have' if n != 1 else ' has'} waited longer than {_span(rules.approval_age)} "
            f"(the oldest {_span(now - oldest)}): /ui/queue",
        )
    ]


def evaluate(db: Database, rules: Rules, now: datetime | None = None) -> list[Alert]:
    """Every alert whose condition holds now (whether or not it was posted already)."""
    now = now or utcnow()
    with db.session() as s:
        failing, limited, waited = _calls(s, now - rules.window)
        return [
            *credential_alerts(s, rules, now),
            *error_alerts(s, rules, now, failing),
            *rate_limit_alerts(s, rules, limited, waited),
            *approval_alerts(s, rules, now),
        ]


class AlertMonitor:
    """Evaluates the rules and posts what is new to the channel, each alert once per repeat period."""

    def __init__(self, db: Database, pool: ConnectorPool, target: str, rules: Rules):
        connection, _, channel = target.partition(":")
        self.db, self.pool, self.rules = db, pool, rules
        self.connection, self.channel = connection, channel or "#ops"

    def _unsent(self, alerts: list[Alert], now: datetime) -> list[Alert]:
        if not alerts:
            return []
        with self.db.session() as s:
            told = set(
                s.scalars(
                    select(AuditEntry.subject_id).where(
                        AuditEntry.event == SENT,
                        AuditEntry.at >= now - self.rules.repeat,
                        AuditEntry.subject_id.in_([a.key for a in alerts]),
                    )
                )
            )
        return [a for a in alerts if a.key not in told]

    def _sent(self, alert: Alert) -> None:
        with self.db.session() as s:
            audit(s, "system", SENT, "alert", alert.key, {"rule": alert.rule, "channel": self.channel})
        ALERTS_SENT.labels(alert.rule).inc()

    async def tick(self, now: datetime | None = None) -> list[Alert]:
        """Evaluate once; returns the alerts posted now."""
        now = now or utcnow()
        alerts = await asyncio.to_thread(evaluate, self.db, self.rules, now)
        due = await asyncio.to_thread(self._unsent, alerts, now)
        if not due:
            return []
        post = await asyncio.to_thread(self._poster)
        if post is None:
            log.warning("alert connection %s is not configured or cannot post messages", self.connection)
            return []
        # The same key within one period: a process that posted but stopped before recording it
        # does not post twice (the chat connector checks for its earlier post).
        period = int(now.timestamp() // self.rules.repeat.total_seconds())
        posted = []
        for alert in due:
            try:
                await post(
                    channel=self.channel, text=alert.text, idempotency_key=f"alert-{alert.key}-{period}"
                )
            except Exception as exc:
                log.warning("could not post alert %s to %s: %s", alert.key, self.channel, exc)
                continue
            await asyncio.to_thread(self._sent, alert)
            posted.append(alert)
        return posted

    def _poster(self) -> Any:
        try:
            return getattr(self.pool.connector(self.connection), "post_message", None)
        except Exception:
            return None

    async def loop(self, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("evaluating alerts failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)


def watcher(settings: Settings, db: Database, pool: ConnectorPool) -> AlertMonitor | None:
    """The monitor SWITCHBOARD_ALERTS asks for, or None."""
    if not settings.alerts:
        return None
    return AlertMonitor(db, pool, settings.alerts, Rules.from_settings(settings))
