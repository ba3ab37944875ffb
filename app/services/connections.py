"""Configured systems: stored with encrypted credentials, turned into tools.

The catalogue is built here, the one place that decrypts credentials: they go
into the connector's httpx auth and nowhere else (never a prompt, a step or a log).
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.services import intake
from app.services.errors import Conflict, Invalid, NotFound
from app.store.crypto import SecretBox
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Action, AuditEntry, Connection, Run, StandingRuleRow, Workflow, utcnow
from connectors.aio import AiohttpTransport
from connectors.auth import OAuth2ClientCredentials, OAuth2RefreshToken
from connectors.base import Connector, noting_calls
from connectors.circuit import CircuitBreaker
from connectors.http import ApiKeyAuth, BearerAuth, RetryPolicy, build_client, zendesk_token_auth
from connectors.limits import ConcurrencyLimit, ConcurrencyLimitTransport
from connectors.openapi.importer import bundled_specs
from connectors.reach import url_problem
from connectors.registry import CONNECTOR_TYPES
from tools.base import SEPARATOR, Catalogue
from tools.from_connector import tools_for

AUTH_TYPES = {
    "none": (),
    "bearer": ("token",),
    "basic": ("username", "password"),
    "api_key": ("key",),
    "zendesk_token": ("email", "token"),
    "oauth2_client_credentials": ("client_id", "client_secret"),
    "oauth2_refresh_token": ("client_id", "refresh_token"),
}
OAUTH = ("oauth2_client_credentials", "oauth2_refresh_token")


def make_auth(
    auth_type: str,
    creds: dict[str, Any],
    config: dict[str, Any],
    *,
    on_token: Any = None,
    on_failure: Any = None,
) -> httpx.Auth | None:
    if auth_type == "none":
        return None
    if auth_type == "bearer":
        return BearerAuth(creds["token"])
    if auth_type == "basic":
        return httpx.BasicAuth(creds["username"], creds["password"])
    if auth_type == "api_key":
        return ApiKeyAuth(
            creds["key"], header=config.get("header", "X-API-Key"), query_param=config.get("query_param")
        )
    if auth_type == "zendesk_token":
        return zendesk_token_auth(creds["email"], creds["token"])
    if auth_type == "oauth2_client_credentials":
        return OAuth2ClientCredentials(
            config["token_url"],
            creds["client_id"],
            creds["client_secret"],
            config.get("scope"),
            on_token=on_token,
            on_failure=on_failure,
        )
    if auth_type == "oauth2_refresh_token":
        return OAuth2RefreshToken(
            config["token_url"],
            creds["client_id"],
            creds.get("client_secret"),
            creds["refresh_token"],
            scope=config.get("scope"),
            on_token=on_token,
            on_failure=on_failure,
        )
    raise Invalid(f"auth_type must be one of {', '.join(AUTH_TYPES)}", field="auth_type")


ALLOW_HINT = "set SWITCHBOARD_ALLOW_PRIVATE_NETWORK=1 to allow private addresses"


def check_reach(base_url: str, config: dict[str, Any] | None, *, allow_private: bool) -> None:
    """Refuse URLs (base_url, config.token_url, config.spec) that reach this machine or a private
    network, and an OpenAPI spec read from a local file, unless private reach is allowed."""
    if allow_private:
        return
    config = config or {}
    urls = [("base_url", base_url)]
    if isinstance(config.get("token_url"), str):
        urls.append(("config.token_url", config["token_url"]))
    spec = config.get("spec")
    if isinstance(spec, str) and spec.strip():
        if urlsplit(spec.strip()).scheme in ("http", "https"):
            urls.append(("config.spec", spec.strip()))
        elif spec.strip() not in bundled_specs():
            raise Invalid(
                "config.spec must be an http(s) URL, a bundled spec name or the document itself, "
                f"not a local file; {ALLOW_HINT} and local files",
                field="config.spec",
            )
    for field, url in urls:
        if (why := url_problem(url)) is not None:
            raise Invalid(f"{field} is not allowed: {why}; {ALLOW_HINT}", field=field)


def add_connection(
    db: Database,
    box: SecretBox,
    *,
    name: str,
    kind: str,
    base_url: str,
    auth_type: str = "none",
    credentials: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    owner: str | None = None,
    actor: str = "cli",
    allow_private: bool | None = None,
) -> str:
    """Store a connection. `allow_private` (default: SWITCHBOARD_ALLOW_PRIVATE_NETWORK) lets it
    point at loopback, link-local and private addresses and read its spec from a local file."""
    _check_name(name)
    _check(kind, base_url, auth_type, credentials or {}, config or {}, allow_private)
    with db.session() as s:
        if s.scalar(select(Connection.id).where(Connection.name == name)):
            raise Conflict(f"a connection named {name} exists already")
        row = Connection(
            name=name,
            kind=kind,
            base_url=base_url,
            auth_type=auth_type,
            credentials=box.seal(credentials or {}),
            config=config or {},
            owner=owner,
        )
        s.add(row)
        s.flush()
        audit(
            s,
            actor,
            "connection.added",
            "connection",
            row.id,
            {"name": name, "kind": kind, "auth_type": auth_type},
        )
        added = str(row.id)
    intake.forget_ticket_system()  # tickets may now belong to this help desk
    return added


def _check(
    kind: str,
    base_url: str,
    auth_type: str,
    credentials: dict[str, Any],
    config: dict[str, Any],
    allow_private: bool | None,
) -> None:
    """What a stored connection must be, whether added or edited: each problem named."""
    if kind not in CONNECTOR_TYPES:
        raise Invalid(f"kind must be one of {', '.join(sorted(CONNECTOR_TYPES))}, not {kind!r}", field="kind")
    if auth_type not in AUTH_TYPES:
        raise Invalid(f"auth_type must be one of {', '.join(AUTH_TYPES)}", field="auth_type")
    missing = [k for k in AUTH_TYPES[auth_type] if not credentials.get(k)]
    if missing:
        raise Invalid(f"{auth_type} auth needs credentials: {', '.join(missing)}", field="credentials")
    for key, what in CONNECTOR_TYPES[kind].required_config.items():
        if config.get(key) in (None, ""):
            raise Invalid(f"a {kind} connection needs config.{key}: {what}", field="config")
    if auth_type in OAUTH and not str(config.get("token_url", "")).startswith(("http://", "https://")):
        raise Invalid(
            f"{auth_type} auth needs config.token_url (the authorization server's token endpoint)",
            field="config",
        )
    if not base_url.startswith(("http://", "https://")):
        raise Invalid("base_url must start with http:// or https://", field="base_url")
    if allow_private is None:
        from app.config import Settings

        allow_private = Settings().allow_private_network
    check_reach(base_url, config, allow_private=allow_private)


def _check_name(name: str) -> None:
    if (
        not name.replace("_", "").replace("-", "").isalnum()
        or "__" in name
        or name[0] in "_-"
        or name[-1] in "_-"
    ):
        raise Invalid(
            "name may hold letters, digits, single - and _ (not at either end: tool names join it to "
            "the operation with __)",
            field="name",
        )


# Writes on a connection that are still to run or running: a connection is not removed under them.
UNFINISHED = ("pending", "approved", "executing")


def update_connection(
    db: Database,
    box: SecretBox,
    name: str,
    *,
    base_url: str | None = None,
    auth_type: str | None = None,
    credentials: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    owner: str | None = None,
    actor: str = "cli",
    allow_private: bool | None = None,
) -> list[str]:
    """Edit a connection in place (a rotated key, a moved URL, a changed setting) and return what
    changed. Credentials given replace those keys and keep the others, unless the auth type
    changes (then they are the whole set); config keys given replace theirs, a None removes one.
    Running processes build the connector again from the new revision (ConnectorPool)."""
    with db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == name).with_for_update())
        if row is None:
            raise NotFound(f"no connection {name}")
        new_auth = auth_type or row.auth_type
        creds = box.open(row.credentials)
        if new_auth != row.auth_type:  # the old keys are the old auth's; the webhook secret stays
            creds = {k: v for k, v in creds.items() if k == "webhook_secret"}
        creds.update(credentials or {})
        settings = {**(row.config or {}), **(config or {})}
        settings = {k: v for k, v in settings.items() if v is not None}
        new_url = base_url or row.base_url
        _check(row.kind, new_url, new_auth, creds, settings, allow_private)
        changed = [
            field
            for field, before, after in (
                ("base_url", row.base_url, new_url),
                ("auth_type", row.auth_type, new_auth),
                ("config", row.config or {}, settings),
                ("owner", row.owner, owner or row.owner),
            )
            if before != after
        ]
        if credentials or new_auth != row.auth_type:
            changed.append("credentials")
        if not changed:
            return []
        if new_url.rstrip("/") != row.base_url.rstrip("/"):
            _no_writes_waiting(s, name, f"moved to {new_url}")
        if moved := sorted(k for k in MOVING_CONFIG if (row.config or {}).get(k) != settings.get(k)):
            _no_writes_waiting(s, name, f"moved (another {', '.join(moved)} in its config)")
        row.base_url, row.auth_type, row.config = new_url, new_auth, settings
        row.owner = owner or row.owner
        row.credentials = box.seal(creds)
        row.revision = (row.revision or 1) + 1
        if "credentials" in changed or "base_url" in changed:
            row.token_expires_at = None  # the expiry was the old key's
            row.status, row.last_error = "unknown", None
        audit(
            s,
            actor,
            "connection.updated",
            "connection",
            row.id,
            # names, never values: credentials stay out of the log
            {"name": name, "changed": changed, "credential_keys": sorted(credentials or {})},
        )
    intake.forget_ticket_system()
    return changed


def _names_connection(pattern: str, name: str) -> bool:
    """Whether a standing rule's `connection__operation` glob was made for connection `name`:
    its connection side matches it ("desk", "desk*", "de?k"), and is not the bare "*" of a rule
    an admin made for every connection."""
    connection, sep, _ = pattern.partition("__")
    return bool(sep) and connection != "*" and fnmatch.fnmatchcase(name, connection)


# Config keys that say which system (or which of its accounts, or which operations) a write
# reaches, beside the row's base_url: an OpenAPI connection's own base_url and its document, an
# MCP server's url or command, a SOAP endpoint, a GraphQL path, a Stripe Connect account.
MOVING_CONFIG = frozenset(
    {
        "base_url",
        "url",
        "command",
        "args",
        "cwd",
        "env",
        "spec",
        "endpoint",
        "graphql_path",
        "stripe_account",
        "write_methods",
        "write_operations",
        "read_only_operations",
    }
)


def _no_writes_waiting(s: Session, name: str, change: str) -> None:
    """Refuse a change that would send the writes waiting on connection `name` somewhere else
    than the system they were proposed for, read against and approved for."""
    waiting = s.scalar(
        select(func.count())
        .select_from(Action)
        .join(Run, Action.run_id == Run.id)
        .where(
            Action.connection == name,
            Action.status.in_(UNFINISHED)
            # a failed write of a run still going may be retried: it was approved for this system
            | ((Action.status == "failed") & Run.status.not_in(("failed", "succeeded", "cancelled"))),
        )
    )
    if waiting:
        raise Conflict(
            f"connection {name} cannot be {change}: it has {waiting} write(s) pending, approved, running "
            "or failed and retryable, proposed for the system it is now; reject or dismiss them first "
            "(`switchboard approvals list`)"
        )


def remove_connection(db: Database, name: str, *, actor: str = "cli") -> None:
    """Take a connection out. Refused while writes on it wait or run (decide them first); its
    standing rules are revoked with it, so a later connection of that name starts without them."""
    with db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == name).with_for_update())
        if row is None:
            raise NotFound(f"no connection {name}")
        _no_writes_waiting(s, name, "removed")
        rules = [
            rule
            for rule in s.scalars(select(StandingRuleRow).where(StandingRuleRow.revoked_at.is_(None)))
            if _names_connection(rule.tool, name)
        ]
        for rule in rules:
            rule.revoked_at = utcnow()
            audit(s, actor, "rule.revoked", "rule", rule.id, {"tool": rule.tool, "why": "connection removed"})
        for w in s.scalars(select(Workflow).where(Workflow.status == "active").with_for_update()):
            if _workflow_uses(w, name):
                w.status = "paused"
                audit(s, actor, "workflow.paused", "workflow", w.id, {"why": f"connection {name} removed"})
        audit(s, actor, "connection.removed", "connection", row.id, {"name": name, "kind": row.kind})
        s.delete(row)
    intake.forget_ticket_system()


def _workflow_uses(w: Workflow, name: str) -> bool:
    """Whether a workflow is triggered by connection `name`'s events or calls its tools: it is
    paused with the connection, so a later connection of that name (perhaps another system)
    runs nothing a person approved for this one until someone resumes it."""
    steps = (
        [*(w.spec.get("steps") or []), *(w.spec.get("on_problem") or [])] if isinstance(w.spec, dict) else []
    )
    tools = [str(step.get("tool") or "") for step in steps if isinstance(step, dict)]
    return w.trigger_connection == name or any(t.startswith(f"{name}{SEPARATOR}") for t in tools)


# How often a running process looks whether connections were added, edited or removed elsewhere
# (the CLI, another API process): a change is in use within this long, at one small read per look.
FRESH_SECONDS = 2.0

RETRIED = "connection.retried"
RETRY_WINDOW = timedelta(hours=1)


def recent_retries(s: Any, since: datetime) -> dict[str, list[dict[str, Any]]]:
    """connection id → the retries its calls needed since `since`, oldest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    rows = s.execute(
        select(AuditEntry.subject_id, AuditEntry.data)
        .where(AuditEntry.event == RETRIED, AuditEntry.at >= since)
        .order_by(AuditEntry.id)
    ).all()
    for subject, data in rows:
        out.setdefault(str(subject), []).append(data or {})
    return out


def retry_alert(retries: list[dict[str, Any]]) -> str | None:
    """'3 calls retried in the last hour (2 rate limited, 1 unavailable; last waited 1 s)'."""
    if not retries:
        return None
    limited = sum(1 for e in retries if e.get("status") == 429)
    other = len(retries) - limited
    kinds = [f"{limited} rate limited"] if limited else []
    if other:
        kinds.append(f"{other} failed or unavailable")
    wait = retries[-1].get("wait_seconds")
    last = f"; last waited {wait:g} s" if isinstance(wait, int | float) else ""
    n = len(retries)
    return f"{n} call{'s' if n != 1 else ''} retried in the last hour ({', '.join(kinds)}{last})"


def list_connections(db: Database, breakers: dict[str, CircuitBreaker] | None = None) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.scalars(select(Connection).order_by(Connection.name)).all()
        retries = recent_retries(s, utcnow() - RETRY_WINDOW)
        return [connection_view(r, (breakers or {}).get(r.name), retries.get(r.id, [])) for r in rows]


def connection_view(
    r: Connection, breaker: CircuitBreaker | None = None, retries: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    alerts = []
    if (retried := retry_alert(retries or [])) is not None:
        alerts.append(retried)
    if breaker is not None and breaker.state != "closed":
        alerts.append(f"circuit {breaker.state}: {breaker.last_error or 'repeated failures'}")
    if r.token_expires_at is not None:
        left = (r.token_expires_at - utcnow()).total_seconds()
        if left < 0:
            alerts.append("credential expired")
        elif left < 86400:
            hours = int(left // 3600)
            alerts.append(
                f"credential expires in {hours} hour{'s' if hours != 1 else ''}"
                if hours
                else "credential expires within the hour"
            )
        elif left < 7 * 86400:
            alerts.append(f"credential expires in {int(left // 86400)} days")
    if r.status == "error" and r.last_error:
        alerts.append(r.last_error)
    return {
        "name": r.name,
        "kind": r.kind,
        "base_url": r.base_url,
        "auth_type": r.auth_type,
        "owner": r.owner,
        "health": r.status,
        "last_error": r.last_error,
        "last_checked_at": r.last_checked_at.isoformat() if r.last_checked_at else None,
        "token_expires_at": r.token_expires_at.isoformat() if r.token_expires_at else None,
        "alerts": alerts,
        "circuit": breaker.snapshot() if breaker is not None else {"state": "closed"},
        "retries_last_hour": len(retries or []),
    }


class ConnectorPool:
    """Live connector instances for the configured connections.

    `load()` builds every connector and awaits those whose operations come from
    the system itself (MCP servers); a connection that fails to build or list
    its tools is marked unhealthy and left out, never taking the others down.
    `catalogue()` is the synchronous view for callers outside the event loop.

    Connections change while a process runs: each connector is kept with the row's id and
    revision it was built from and built again when they differ (an edit, or a removal and a new
    connection of that name); the catalogue is checked against the rows every `fresh_seconds`.
    A replaced connector is closed with the pool, not at once: a call may still be using it.
    """

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_private: bool = False,
        concurrency: int | None = None,
    ):
        self.db = db
        self.box = box
        self.transport = transport
        self.allow_private = allow_private
        self._connectors: dict[str, Connector] = {}
        self._catalogue: Catalogue | None = None
        self._dynamic_ready: set[str] = set()
        self._unbuilt: dict[str, str] = {}  # connection name -> why its connector cannot be built
        self._built: dict[str, tuple[str, int]] = {}  # connection name -> (id, revision) built from
        self._retired: list[Connector] = []
        self._seen: tuple[tuple[str, str, int], ...] | None = None  # the rows the catalogue is of
        self._seen_at = float("-inf")
        self.fresh_seconds = FRESH_SECONDS
        self.breakers: dict[str, CircuitBreaker] = {}
        # Requests in flight at once per connection (its config's `max_concurrency`, else this).
        self.concurrency = concurrency
        self.limits: dict[str, ConcurrencyLimit] = {}

    def _build(self, row: Connection) -> Connector:
        check_reach(row.base_url, row.config, allow_private=self.allow_private)  # rows stored before
        creds = self.box.open(row.credentials)
        name = row.name
        breaker = self.breakers.setdefault(
            name,
            CircuitBreaker(
                failure_threshold=int(row.config.get("circuit_failures", 5)),
                reset_after=float(row.config.get("circuit_reset_seconds", 30)),
                name=name,
            ),
        )
        kind = CONNECTOR_TYPES[row.kind]
        rate_limit = row.config.get("rate_limit")
        client = build_client(
            row.base_url,
            auth=make_auth(
                row.auth_type,
                creds,
                row.config,
                on_token=lambda expires_at, refresh_token: self._token_renewed(
                    name, expires_at, refresh_token
                ),
                on_failure=lambda message: self._mark(name, "error", f"credential refresh failed: {message}"),
            ),
            timeout=float(row.config.get("timeout", 15.0)),
            rate_limit=rate_limit,
            transport=self._limited(name, row.config),
            public_only=not self.allow_private,
            circuit=breaker,
            retry=RetryPolicy(
                max_attempts=int(row.config.get("retry_attempts", 4)),
                backoff_initial=float(row.config.get("retry_backoff_seconds", 0.5)),
                advice=kind.retry_advice,
                on_retry=lambda event: self._retried(name, event),
            ),
        )
        kind.prepare(row.config, public_only=not self.allow_private)
        return kind(client, row.config)

    def _limited(self, name: str, config: dict[str, Any]) -> httpx.AsyncBaseTransport:
        """The innermost transport behind the connection's concurrency limit (kept across rebuilds)."""
        cap = config.get("max_concurrency", self.concurrency)
        limit = self.limits.get(name)
        if limit is None or limit.limit != (int(cap) if cap else None):
            limit = self.limits[name] = ConcurrencyLimit(f"connection:{name}", int(cap) if cap else None)
        return ConcurrencyLimitTransport(self.transport or AiohttpTransport(), limit)

    def _rows(self) -> list[Connection]:
        with self.db.read() as s:
            return list(s.scalars(select(Connection).order_by(Connection.name)).all())

    def _connector(self, row: Connection) -> Connector | None:
        if self._built.get(row.name) != (row.id, row.revision):
            self._retire(row.name)
        if row.kind not in CONNECTOR_TYPES:
            return None
        if row.name not in self._connectors:
            try:
                self._connectors[row.name] = self._build(row)
            except Exception as exc:  # bad stored config: report it on the connection
                self._unbuilt[row.name] = f"cannot build the connector: {exc}"
                self._mark(row.name, "error", self._unbuilt[row.name])
                return None
            self._unbuilt.pop(row.name, None)
            self._built[row.name] = (row.id, row.revision)
        return self._connectors[row.name]

    def _retire(self, name: str) -> None:
        """Stop offering the connector built for `name` (edited or removed since)."""
        old = self._connectors.pop(name, None)
        if old is not None:
            self._retired.append(old)
        self._built.pop(name, None)
        self._dynamic_ready.discard(name)

    @staticmethod
    def _fingerprint(rows: list[Connection]) -> tuple[tuple[str, str, int], ...]:
        return tuple((r.name, r.id, r.revision) for r in rows)

    def _fresh(self) -> bool:
        """Looked at the rows less than `fresh_seconds` ago."""
        return time.monotonic() - self._seen_at < self.fresh_seconds

    def _stale(self) -> bool:
        """Whether connections changed since the catalogue was assembled (looked at every
        `fresh_seconds`; blocking: call it off the event loop)."""
        if self._catalogue is None:
            return True
        if self._fresh():
            return False
        with self.db.read() as s:
            rows = s.execute(
                select(Connection.name, Connection.id, Connection.revision).order_by(Connection.name)
            ).all()
        self._seen_at = time.monotonic()
        return tuple((n, i, r) for n, i, r in rows) != self._seen

    def _assemble(self, *, include_dynamic: bool) -> Catalogue:
        cat = Catalogue()
        rows = self._rows()
        for name in set(self._connectors) - {r.name for r in rows}:
            self._retire(name)  # removed
        self._seen, self._seen_at = self._fingerprint(rows), time.monotonic()
        for row in rows:
            connector = self._connector(row)
            if connector is None:
                cat.unavailable[row.name] = self._unbuilt.get(row.name) or (
                    f"it is of kind {row.kind!r}, which this version cannot connect"
                )
                continue
            if connector.dynamic and (not include_dynamic or row.name not in self._dynamic_ready):
                continue
            try:
                tools = tools_for(row.name, connector, describe_as=f"{row.name} ({row.kind})")
                names = Counter(t.name for t in tools)
                if twice := sorted(n for n, count in names.items() if count > 1):
                    raise ValueError(f"it offers {', '.join(twice)} more than once")
            except Exception as exc:  # one connection's tools never take the others' down
                cat.unavailable[row.name] = f"its tools cannot be offered: {exc}"
                continue
            for tool in tools:
                cat.add(tool)
        return cat

    async def load(self) -> Catalogue:
        """The full catalogue, listing tools from dynamic connections first (cached while the
        connections stay as they are)."""
        if self._catalogue is not None and (self._fresh() or not await asyncio.to_thread(self._stale)):
            return self._catalogue
        self._catalogue = None
        for row in await asyncio.to_thread(self._rows):
            connector = self._connector(row)
            if connector is None or not connector.dynamic or row.name in self._dynamic_ready:
                continue
            try:
                await connector.refresh()
                self._dynamic_ready.add(row.name)
            except Exception as exc:
                self._mark(row.name, "error", f"could not list its tools: {exc}")
                continue
            await asyncio.to_thread(self._pin, row.name, connector)
        self._catalogue = self._assemble(include_dynamic=True)
        return self._catalogue

    def catalogue(self) -> Catalogue:
        """The catalogue as loaded; before `load()`, the connections whose tools are static."""
        if self._catalogue is not None and not self._stale():
            return self._catalogue
        return self._assemble(include_dynamic=True)

    def connector(self, name: str) -> Connector:
        """The named connection's connector; a connection that is there but cannot be built says why."""
        for row in self._rows():
            if row.name != name:
                continue
            if (connector := self._connector(row)) is not None:
                return connector
            if row.kind not in CONNECTOR_TYPES:
                raise Conflict(
                    f"connection {name} is of kind {row.kind!r}, which this version cannot connect"
                )
            raise Conflict(f"connection {name}: {self._unbuilt.get(name) or 'cannot build the connector'}")
        raise NotFound(f"no connection {name}")

    def invalidate(self) -> None:
        self._catalogue = None

    def _pin(self, name: str, connector: Connector) -> None:
        """Keep the definitions of confirmed reads seen for the first time since their owner
        confirmed them (MCP's `confirmed_definitions`): a later change makes them writes again."""
        unpinned = getattr(connector, "unpinned_reads", None)
        found = unpinned() if callable(unpinned) else {}
        if not found:
            return
        with self.db.session() as s:
            row = s.scalar(select(Connection).where(Connection.name == name).with_for_update())
            if row is None:
                return
            config = dict(row.config or {})
            pins = {**found, **dict(config.get("confirmed_definitions") or {})}
            row.config = {**config, "confirmed_definitions": pins}
            audit(s, "system", "connection.reads_pinned", "connection", row.id, {"tools": sorted(found)})
        connector.confirmed_definitions.update(found)  # type: ignore[attr-defined]

    def _token_renewed(self, name: str, expires_at: Any, refresh_token: str | None) -> None:
        """Record a new access token's expiry, and keep a rotated refresh token (encrypted)."""
        with self.db.session() as s:
            row = s.scalar(select(Connection).where(Connection.name == name))
            if row is None:
                return
            row.token_expires_at = expires_at
            if row.status == "error" and (row.last_error or "").startswith("credential refresh failed"):
                row.status, row.last_error = "ok", None
            if refresh_token:
                creds = self.box.open(row.credentials)
                creds["refresh_token"] = refresh_token
                row.credentials = self.box.seal(creds)
            audit(
                s, "system", "connection.token_renewed", "connection", row.id, {"expires_at": str(expires_at)}
            )

    def _mark(self, name: str, status: str, error: str | None) -> None:
        with self.db.session() as s:
            row = s.scalar(select(Connection).where(Connection.name == name))
            if row is None:
                return
            row.status = status
            row.last_error = error
            row.last_checked_at = utcnow()
            audit(s, "system", "connection.checked", "connection", row.id, {"status": status, "error": error})

    def _retried(self, name: str, event: dict[str, Any]) -> None:
        """A call was retried (rate limited, unavailable): kept for the connection's health."""
        with self.db.session() as s:
            row = s.scalar(select(Connection).where(Connection.name == name))
            if row is not None:
                audit(s, "system", RETRIED, "connection", row.id, event)

    async def test(self, name: str) -> dict[str, Any]:
        """Call the connection's cheap check and record its health (with any retries it took; the
        database work in a thread)."""
        connector = await asyncio.to_thread(self.connector, name)
        with noting_calls() as retries:
            try:
                detail = await connector.check()
                status, error = "ok", None
                if connector.dynamic:  # it listed its tools again: offer them as they are now
                    await asyncio.to_thread(self._pin, name, connector)
                    self.invalidate()
            except Exception as exc:  # any failure is the health we report
                detail, status, error = {}, "error", str(exc)
        await asyncio.to_thread(self._mark, name, status, error)
        return {"name": name, "health": status, "error": error, "detail": detail, "retries": list(retries)}

    async def test_live(self, name: str) -> dict[str, Any]:
        """Run the connection's read-only checks against the service it points at, and say
        for each what it asked, what came back and, on a failure, exactly what failed."""
        with self.db.session() as s:
            row = s.scalar(select(Connection).where(Connection.name == name))
            if row is None:
                raise NotFound(f"no connection {name}")
            has_key = row.auth_type != "none" and bool(self.box.open(row.credentials))
        if not has_key:
            raise Invalid(
                f"connection {name} has no key configured (auth none): live checks run against the real "
                "service with its credentials; add them with `switchboard connections add … --auth …`",
                field="connection",
            )
        connector = self.connector(name)
        return await run_live_checks(name, connector, self._mark)

    async def aclose(self) -> None:
        for c in [*self._connectors.values(), *self._retired]:
            await c.aclose()
        self._connectors.clear()
        self._retired.clear()
        self._built.clear()
        self._dynamic_ready.clear()
        self._catalogue = None


async def run_live_checks(name: str, connector: Connector, mark: Any = None) -> dict[str, Any]:
    """Each live check in turn; a failure names the check, the request that failed (method,
    path, status) and the service's own words, and the next check still runs."""
    failed: list[httpx.Response] = []

    async def remember(response: httpx.Response) -> None:
        if not response.is_success:
            failed.append(response)

    hooks = connector.client.event_hooks
    connector.client.event_hooks = {**hooks, "response": [*hooks.get("response", []), remember]}
    results: list[dict[str, Any]] = []
    try:
        for check, call in connector.live_checks():
            failed.clear()
            try:
                detail = await call()
                results.append({"check": check, "ok": True, "error": None, "detail": detail})
            except Exception as exc:  # each failure is reported, never raised
                where = ""
                if failed:
                    last = failed[-1]
                    where = f"{last.request.method} {last.request.url.path} answered {last.status_code}: "
                results.append({"check": check, "ok": False, "error": f"{where}{exc}", "detail": None})
    finally:
        connector.client.event_hooks = hooks
    bad = [r for r in results if not r["ok"]]
    if mark is not None:
        mark(name, "error" if bad else "ok", "; ".join(f"{r['check']}: {r['error']}" for r in bad) or None)
    return {"name": name, "health": "error" if bad else "ok", "checks": results}
