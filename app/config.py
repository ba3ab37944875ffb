"""Settings from the environment (CONTRACT.md names them); one object, read once."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path(".switchboard"), alias="SWITCHBOARD_DATA_DIR")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # Encrypts stored credentials. Required by everything but `switchboard demo`, which keeps a
    # generated key in its data dir.
    secret_key: str | None = Field(default=None, alias="SWITCHBOARD_SECRET_KEY")
    # Let connections reach loopback, link-local and private addresses, and read OpenAPI
    # documents from local files (the demo's simulators live on loopback). Off by default.
    allow_private_network: bool = Field(default=False, alias="SWITCHBOARD_ALLOW_PRIVATE_NETWORK")
    model: str = Field(default="local", alias="SWITCHBOARD_MODEL")
    anthropic_api_key: str | None = Field(default=None, alias="ANTHROPIC_API_KEY")
    openai_api_key: str | None = Field(default=None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    # A worker holds a run for this long and renews while it works; a crashed
    # worker's runs become claimable again once it lapses.
    lease_seconds: float = Field(default=30.0, alias="SWITCHBOARD_LEASE_SECONDS")
    poll_seconds: float = Field(default=0.5, alias="SWITCHBOARD_POLL_SECONDS")
    # Runs one worker process advances at once (each waits mostly on a model or a system).
    worker_concurrency: int = Field(default=1, ge=1, alias="SWITCHBOARD_WORKER_CONCURRENCY")
    # Database connections (and store threads) per process: enough for every run in flight.
    db_pool_size_override: int | None = Field(default=None, ge=1, alias="SWITCHBOARD_DB_POOL_SIZE")
    # Model calls in flight at once per process; unset: the provider's default (see app/llm/limits).
    model_concurrency: int | None = Field(default=None, ge=1, alias="SWITCHBOARD_MODEL_CONCURRENCY")
    # Threads for the API's hot reads (lists, one item) per server process; see app/api/reads.py.
    api_read_threads: int = Field(default=2, ge=1, alias="SWITCHBOARD_API_READ_THREADS")
    # Requests in flight at once to one connection, unless its config sets `max_concurrency`.
    connection_concurrency: int = Field(default=8, ge=1, alias="SWITCHBOARD_CONNECTION_CONCURRENCY")
    # How often a worker looks for scheduled workflows whose time has come.
    schedule_seconds: float = Field(default=20.0, alias="SWITCHBOARD_SCHEDULE_SECONDS")
    # How often a worker looks for parked runs that have work (a safety net; decisions requeue runs).
    sweep_seconds: float = Field(default=30.0, gt=0, alias="SWITCHBOARD_SWEEP_SECONDS")
    # The longest wait before a run that met a passing fault (an outage, a rate limit, a dropped
    # database connection) is tried again; the waits double from 1 s up to this.
    backoff_max_seconds: float = Field(default=300.0, gt=0, alias="SWITCHBOARD_BACKOFF_MAX_SECONDS")
    # Below this classification confidence a ticket goes to a person first.
    # The local model's text features: tfidf | embeddings | hybrid | auto (needs the embeddings extra).
    local_features: str = Field(default="tfidf", alias="SWITCHBOARD_LOCAL_FEATURES")
    review_threshold: float = Field(default=0.55, alias="SWITCHBOARD_REVIEW_THRESHOLD")
    # Money writes (refunds, payments, journal entries by their debits) above this many minor
    # units need two different approvers.
    two_approvers_above: int = Field(default=50_000, alias="SWITCHBOARD_TWO_APPROVERS_ABOVE")
    # The currency the ERP's ledger keeps (its journal lines name none): invoices and payouts in
    # another are left to a person to convert. Empty: not known, and nothing is compared.
    ledger_currency: str = Field(default="", alias="SWITCHBOARD_LEDGER_CURRENCY")
    # The company's own domains, comma-separated: replies may link to them and their subdomains
    # (the help center's article links and the systems' records are trusted without this).
    trusted_domains_csv: str = Field(default="", alias="SWITCHBOARD_TRUSTED_DOMAINS")
    approval_ttl_hours: float = Field(default=72.0, alias="SWITCHBOARD_APPROVAL_TTL_HOURS")
    max_body_bytes: int = Field(default=256_000, alias="SWITCHBOARD_MAX_BODY_BYTES")
    rate_limit_per_second: float = Field(default=50.0, alias="SWITCHBOARD_RATE_LIMIT")
    rate_limit_burst: int = Field(default=200, alias="SWITCHBOARD_RATE_BURST")
    # "CONNECTION:#channel": post a notice there when a write waits for approval.
    notify: str | None = Field(default=None, alias="SWITCHBOARD_NOTIFY")
    public_url: str | None = Field(default=None, alias="SWITCHBOARD_PUBLIC_URL")
    # Observability (README: "Watching it run"). Logs: "text" (default) or "json", with run ids.
    log_format: str = Field(default="text", alias="SWITCHBOARD_LOG_FORMAT")
    log_level: str = Field(default="INFO", alias="SWITCHBOARD_LOG_LEVEL")
    # OTLP/HTTP collector base URL for traces; the standard OTEL_EXPORTER_OTLP_* variables work too.
    otlp_endpoint: str | None = Field(default=None, alias="SWITCHBOARD_OTLP_ENDPOINT")
    # A bearer token /metrics asks of its scraper (Prometheus: `authorization: {credentials: ...}`);
    # unset, /metrics answers anyone who reaches it, as Prometheus endpoints usually do.
    metrics_token: str | None = Field(default=None, alias="SWITCHBOARD_METRICS_TOKEN")
    # A worker's own /metrics port (its counters are per process); off by default.
    metrics_port: int | None = Field(default=None, alias="SWITCHBOARD_METRICS_PORT")
    # The address that port listens on (127.0.0.1: this machine only; it asks for no token).
    metrics_addr: str = Field(default="0.0.0.0", alias="SWITCHBOARD_METRICS_ADDR")
    # "CONNECTION:#channel": post operational alerts there. Each rule is off at 0.
    alerts: str | None = Field(default=None, alias="SWITCHBOARD_ALERTS")
    alert_every_seconds: float = Field(default=60.0, gt=0, alias="SWITCHBOARD_ALERT_SECONDS")
    alert_window_minutes: float = Field(default=15.0, gt=0, alias="SWITCHBOARD_ALERT_WINDOW_MINUTES")
    alert_repeat_minutes: float = Field(default=60.0, ge=0, alias="SWITCHBOARD_ALERT_REPEAT_MINUTES")
    alert_errors: int = Field(default=10, ge=0, alias="SWITCHBOARD_ALERT_ERRORS")
    alert_rate_limited: int = Field(default=20, ge=0, alias="SWITCHBOARD_ALERT_RATE_LIMITED")
    alert_approval_hours: float = Field(default=4.0, ge=0, alias="SWITCHBOARD_ALERT_APPROVAL_HOURS")
    alert_credential_hours: float = Field(default=72.0, ge=0, alias="SWITCHBOARD_ALERT_CREDENTIAL_HOURS")

    @property
    def db_pool_size(self) -> int:
        """Each run in flight may hold a connection, plus a few for leases, claims and the API."""
        return self.db_pool_size_override or self.worker_concurrency + 4

    @property
    def trusted_domains(self) -> tuple[str, ...]:
        return tuple(d.strip().lower() for d in self.trusted_domains_csv.split(",") if d.strip())

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'switchboard.db').resolve()}"


class UnsupportedDatabase(ValueError):
    """A database URL that is not one Switchboard runs on (SQLite or PostgreSQL)."""


def check_database_url(url: str) -> None:
    """Refuse, naming what is taken, a URL that is neither SQLite nor PostgreSQL (psycopg)."""
    if not url.startswith(("sqlite:", "sqlite+", "postgresql:", "postgres:", "postgresql+psycopg:")):
        shown = url.split("@")[-1] if "@" in url else url
        raise UnsupportedDatabase(
            f"the database URL ...{shown[-60:]} is not one Switchboard runs on: give sqlite:///FILE "
            "or postgresql://USER@HOST:PORT/NAME"
        )
