"""What every connector is made of: operations with a derived JSON Schema.

A connector is a class whose methods are decorated with `@operation`. The
decorator records the effect (read or write), how the system makes a write safe
to retry, and a JSON Schema derived from the method's type hints, so adding an
operation never means writing a schema by hand. A connector is handed its
`httpx.AsyncClient` with auth, timeouts, retries and rate limits already attached.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any, ClassVar, Literal, TypedDict, TypeVar
from urllib.parse import unquote

import httpx
from pydantic import ConfigDict, TypeAdapter, create_model

from connectors.currency import to_minor
from connectors.ratelimit import TokenBucket
from connectors.webhooks import SignatureError, WebhookEvent

Effect = Literal["read", "write"]
# key: the system honours an idempotency key (e.g. Stripe's Idempotency-Key);
# check: the operation looks for its own earlier write before writing (check-then-write);
# none: reads, or writes the system cannot deduplicate.
Idempotency = Literal["key", "check", "none"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

# Parameters the executor supplies itself; they never appear in a tool's schema.
RESERVED_PARAMS = frozenset({"self", "idempotency_key"})


_CALL_NOTES: ContextVar[list[dict[str, Any]] | None] = ContextVar("switchboard_call_notes", default=None)


@contextmanager
def noting_calls() -> Iterator[list[dict[str, Any]]]:
    """Collect what happened on the wire under one operation (each retry and why), for its record."""
    notes: list[dict[str, Any]] = []
    token = _CALL_NOTES.set(notes)
    try:
        yield notes
    finally:
        _CALL_NOTES.reset(token)


_FIRST_ATTEMPT: ContextVar[bool] = ContextVar("switchboard_first_attempt", default=False)


@contextmanager
def first_attempt() -> Iterator[None]:
    """The write made inside has never been tried with its idempotency key (the run knows: its
    action was never executing before), so no earlier write can carry that key."""
    token = _FIRST_ATTEMPT.set(True)
    try:
        yield
    finally:
        _FIRST_ATTEMPT.reset(token)


_PROPOSED_AT: ContextVar[float | None] = ContextVar("switchboard_proposed_at", default=None)


@contextmanager
def proposed_at(when: float | None) -> Iterator[None]:
    """No attempt of the write made inside went out before `when` (unix seconds): its first
    attempt's time, or its proposal's."""
    token = _PROPOSED_AT.set(when)
    try:
        yield
    finally:
        _PROPOSED_AT.reset(token)


_PROPOSED_VERSION: ContextVar[str | None] = ContextVar("switchboard_proposed_version", default=None)


@contextmanager
def proposed_version(version: str | None) -> Iterator[None]:
    """The write made inside was proposed (and approved) for this version of its operation
    (`OperationSpec.version`); None: the proposal recorded none."""
    token = _PROPOSED_VERSION.set(version)
    try:
        yield
    finally:
        _PROPOSED_VERSION.reset(token)


def version_proposed() -> str | None:
    """The version of its operation the write made in this call was approved for, if known."""
    return _PROPOSED_VERSION.get()


def not_written_before() -> float | None:
    """Unix time before which this call's write cannot have been made (its first attempt went
    out then), or None when unknown. A lookup for an earlier attempt may start there."""
    return _PROPOSED_AT.get()


def tried_before() -> bool:
    """Whether a write with this call's idempotency key may already have been made. An operation
    that deduplicates by looking for an earlier write (idempotency="check") looks only when this
    is true: on a first attempt the lookup is a round trip that can find nothing. Outside
    `first_attempt()` (a retry, a resumed action, a caller that cannot tell) it is true."""
    return not _FIRST_ATTEMPT.get()


def note_call(event: dict[str, Any]) -> None:
    """Told by the transports (e.g. a retry); kept only inside `noting_calls()`."""
    notes = _CALL_NOTES.get()
    if notes is not None:
        notes.append(event)


class ConnectorError(Exception):
    """A system answered with an error the model or a person should see, in plain words."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class Money:
    """The write moves money. Names the arguments that carry it, so the gate never guesses.

    `amount` holds minor units; when the argument is left out the write moves the whole
    of what `source` has left (Stripe refunds a charge in full without an amount). None:
    no argument says how much, the system prices the write when it makes it (a carrier's
    postage for a label), so the amount is unknown until then.
    `source` names the argument saying where the money comes from (a charge id).

    `lines` names an argument holding a list of lines (a journal entry's); the amount is
    then the sum of each line's `amount` field (a line without it adds nothing), and a
    missing or malformed list leaves the amount unknown. `counter`, with `lines`: each line's
    field holding the other side of the entry (a journal's credits), which must come to the
    same total, so a reader can see whether it balances. `major_units`: the amounts are
    written in major units (12.34), not minor units (1234), and are scaled by the exponent of
    the currency `currency` names (connectors/currency.py: ¥500 is 500 minor units)."""

    amount: str | None = "amount"
    currency: str | None = "currency"
    source: str | None = None
    lines: str | None = None
    counter: str | None = None
    major_units: bool = False

    def minor_amount(self, arguments: Mapping[str, Any]) -> int | None:
        """The amount these arguments move, in minor units; None when they do not say (an
        amount left out) or say something that is not one: a value that is not a finite
        number (text, a boolean, NaN, infinity), a negative one, or lines that are not a
        list of objects. Computed with Decimal from each value's shortest repr, so 0.1 + 0.2
        major units are exactly 30 minor units; a fraction of a minor unit rounds up. Major
        units are read in the currency argument's minor units (two decimals without one)."""
        if self.amount is None:
            return None
        currency = arguments.get(self.currency) if self.currency is not None else None
        if self.lines is None:
            return self._minor(arguments.get(self.amount), currency)
        lines = arguments.get(self.lines)
        if not isinstance(lines, list):
            return None
        total = Decimal(0)
        for line in lines:
            if not isinstance(line, Mapping):
                return None
            value = line.get(self.amount)
            if value is None:
                continue
            amount = self._decimal(value)
            if amount is None:
                return None
            total += amount
        return self._to_minor(total, currency)

    def _minor(self, value: Any, currency: Any) -> int | None:
        amount = self._decimal(value)
        return None if amount is None else self._to_minor(amount, currency)

    @staticmethod
    def _decimal(value: Any) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return None
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        if not amount.is_finite() or amount < 0:
            return None
        return amount

    def _to_minor(self, amount: Decimal, currency: Any) -> int:
        if self.major_units:
            return to_minor(amount, currency, rounding=ROUND_CEILING)
        return int(amount.to_integral_value(rounding=ROUND_CEILING))


Audience = Literal["public", "internal", "team"]


@dataclass(frozen=True)
class Message:
    """The write sends words people will read: who reads them and which arguments hold them.

    public: customers or anyone outside the company; team: colleagues (a chat channel);
    internal: notes only agents see. `public_flag` names a boolean argument that turns a
    public message into an internal note when false (Zendesk's comment `public`)."""

    audience: Audience
    text: tuple[str, ...] = ("body",)
    public_flag: str | None = None


@dataclass(frozen=True)
class Effects:
    """What a write does in the world, as the gate and the queue need to know it.

    reversible: a person can undo it in the system (a tag, a priority); False for money
    movements, sent messages, posted entries and anything not declared.
    final: a submission that cannot be withdrawn once made; a string names the boolean
    argument that makes it final (Stripe's dispute evidence `submit`).
    payee: the write creates or changes a payee (a vendor in the ERP's master data), and so
    where money is paid; names the argument holding the bank account (IBAN) it sets."""

    money: Money | None = None
    message: Message | None = None
    reversible: bool = False
    final: bool | str = False
    # What the `final` argument is when left out (Stripe's `submit` defaults to true).
    final_default: bool = False
    payee: str | None = None
    # False for an imported write (OpenAPI, MCP) that declares nothing: the gate cannot trust
    # the absence of money to mean it moves none.
    declared: bool = True

    def is_final(self, arguments: dict[str, Any]) -> bool:
        if isinstance(self.final, str):
            return bool(arguments.get(self.final, self.final_default))
        return self.final

    def is_public_message(self, arguments: dict[str, Any]) -> bool:
        m = self.message
        if m is None or m.audience != "public":
            return False
        return m.public_flag is None or bool(arguments.get(m.public_flag, True))

    def summary(self, arguments: dict[str, Any], facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Plain data for the action row and the queue: what this write does with these arguments,
        and (`declared`) which arguments say it, so the queue shows exactly what the gate read.

        `facts` (see `Facts`) are what the run knows of the money's source: a charge's currency
        when no argument states one, and its owner."""
        out: dict[str, Any] = {"reversible": self.reversible, "final": self.is_final(arguments)}
        if not self.declared:
            out["undeclared"] = True  # an imported write: it may move money, be final, set a payee
        declared: dict[str, Any] = {}
        if self.money is not None:
            money = self.money
            source = arguments.get(money.source) if money.source else None
            known = ((facts or {}).get("charges") or {}).get(str(source)) if source is not None else None
            out["money"] = {
                "amount": money.minor_amount(arguments),
                "currency": arguments.get(money.currency) if money.currency else None,
                "source": source,
            }
            if isinstance(known, Mapping):
                if out["money"]["currency"] is None and known.get("currency"):
                    out["money"]["currency"] = str(known["currency"])
                with suppress(TypeError, ValueError):  # what a refund without an amount moves
                    refunded = int(known.get("amount_refunded") or 0)
                    out["money"]["left"] = int(known.get("amount") or 0) - refunded
                if known.get("customer"):
                    owner = str(known["customer"])
                    out["money"]["owner"] = ((facts or {}).get("customers") or {}).get(owner) or owner
            declared["money"] = asdict(money)
        if self.message is not None:
            audience = self.message.audience
            if audience == "public" and not self.is_public_message(arguments):
                audience = "internal"
            out["message"] = {"audience": audience}
            declared["message"] = {"text": list(self.message.text), "public_flag": self.message.public_flag}
        if self.payee is not None:
            out["payee"] = {"account": arguments.get(self.payee)}
            declared["payee"] = self.payee
        out["declared"] = declared
        return out


READ_EFFECTS = Effects(reversible=True)
UNDECLARED = Effects(declared=False)  # an imported write: nothing known, nothing trusted


class Facts(TypedDict, total=False):
    """What one answer of a system establishes, in the words the gate checks writes with.

    Each connector turns its own answers into these (`Connector.facts`); the gate never
    reads a vendor's field names. Ids are strings; amounts are minor units."""

    # payment customer id -> email
    customers: dict[str, str]
    # charge id -> {"customer", "amount", "amount_refunded", "currency"}
    charges: dict[str, dict[str, Any]]
    # payee (vendor) id -> {"name", "iban"}: the accounts money may be paid to
    vendors: dict[str, dict[str, Any]]
    # URLs the system published for people to follow (a help-center article's own links):
    # where an outgoing message may point
    links: list[str]


def objects(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside an answer, depth first: what `facts` implementations walk."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


@dataclass(frozen=True)
class OperationSpec:
    name: str
    description: str
    effect: Effect
    idempotency: Idempotency
    input_schema: dict[str, Any]
    method_name: str
    takes_idempotency_key: bool = False
    # What the operation is for, in words pipelines find tools by rather than by name:
    # "refund" (gives a customer money back), "issue" (files work for a team). Imported
    # OpenAPI operations carry the spec's own tags here.
    tags: tuple[str, ...] = field(default_factory=tuple)
    # None: not declared (imported OpenAPI and MCP operations); a write then counts as irreversible.
    effects: Effects | None = None
    # Which definition the operation was built from, for systems that may change an operation
    # under its name (MCP): a write approved for one version is never sent for another.
    version: str | None = None

    @property
    def declared_effects(self) -> Effects:
        if self.effects is not None:
            return self.effects
        return READ_EFFECTS if self.effect == "read" else UNDECLARED


def _schema_from_signature(fn: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    sig = inspect.signature(fn)
    hints = {k: v for k, v in inspect.get_annotations(fn, eval_str=True).items() if k != "return"}
    fields: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if pname in RESERVED_PARAMS or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        annotation = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, default)
    model = create_model(  # type: ignore[call-overload]
        f"{fn.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields
    )
    schema = TypeAdapter(model).json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema, "idempotency_key" in sig.parameters


def operation(
    *,
    effect: Effect = "read",
    idempotency: Idempotency = "none",
    name: str | None = None,
    description: str | None = None,
    money: Money | None = None,
    message: Message | None = None,
    reversible: bool = False,
    final: bool | str = False,
    payee: str | None = None,
    tags: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Mark a connector method as a tool. The docstring's first paragraph describes it.

    A write declares what it does (money, message, reversible, final, payee); an undeclared
    write counts as irreversible, so the gate errs on the side of asking."""

    def decorate(fn: F) -> F:
        schema, takes_key = _schema_from_signature(fn)
        doc = description or inspect.cleandoc(fn.__doc__ or fn.__name__).split("\n\n")[0]
        fn.__operation__ = OperationSpec(  # type: ignore[attr-defined]
            name=name or fn.__name__,
            description=" ".join(doc.split()),
            effect=effect,
            idempotency=idempotency if effect == "write" else "none",
            input_schema=schema,
            method_name=fn.__name__,
            takes_idempotency_key=takes_key,
            tags=tuple(tags),
            effects=Effects(
                money=money,
                message=message,
                reversible=reversible,
                final=final,
                final_default=_default_of(fn, final) if isinstance(final, str) else False,
                payee=payee,
            )
            if effect == "write"
            else READ_EFFECTS,
        )
        return fn

    return decorate


def _default_of(fn: Callable[..., Any], name: str) -> bool:
    """The default of parameter `name` (a write that is final unless told otherwise says so)."""
    param = inspect.signature(fn).parameters.get(name)
    return bool(param is not None and param.default is not inspect.Parameter.empty and param.default)


class Connector:
    """Base class. Subclasses set `kind` and decorate their operations.

    HTTP connectors send through `send` and parse with `json_object`, so a lost request
    and a non-JSON answer read the same everywhere; each vendor keeps its own error
    parsing in an `error` override."""

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # The system's name in messages when config has no `label` (e.g. "Zendesk").
    default_label: ClassVar[str] = ""
    # The vendor's own retry advice on an answer (see `RetryPolicy.advice`), or None.
    retry_advice: ClassVar[Any] = None  # Callable[[httpx.Response], bool | None] | None
    # Calls a minute the vendor allows for one operation, on top of the connection's own
    # rate limit (Linear's searchIssues: 30); the operation awaits `self.limit(name)`.
    operation_limits: ClassVar[dict[str, float]] = {}
    # Config keys a connection of this kind cannot be built without, and what each holds.
    required_config: ClassVar[dict[str, str]] = {}
    # False when the vendor signs every account's webhooks with one key (ShipStation): its
    # signature proves the vendor sent a delivery, not that it is about this connection's
    # account, so a delivery must also carry the connection's own token in its URL (`?token=`).
    webhook_signature_names_account: ClassVar[bool] = True

    def __init__(self, client: httpx.AsyncClient, config: dict[str, Any] | None = None):
        self.client = client
        self.config = dict(config or {})
        self._buckets: dict[str, TokenBucket] = {}
        self.limit_clock: Callable[[], float] = time.monotonic  # tests swap these
        self.limit_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @classmethod
    def prepare(cls, config: dict[str, Any], *, public_only: bool) -> None:
        """Read what the connector reads from elsewhere while it is built (an OpenAPI document at
        a URL) before it is built, with `public_only` as its requests have it: a connection
        guarded from private addresses is not led to one by a redirect. Nothing by default."""

    async def limit(self, operation: str) -> None:
        """Wait for the vendor's per-operation limit, if it has one: spaced evenly, so no
        sixty seconds ever see more calls than it allows."""
        per_minute = self.operation_limits.get(operation)
        if not per_minute:
            return
        bucket = self._buckets.get(operation)
        if bucket is None:
            bucket = TokenBucket(per_minute / 60, 1, clock=self.limit_clock, sleep=self.limit_sleep)
            self._buckets[operation] = bucket
        await bucket.acquire()

    @property
    def label(self) -> str:
        return str(self.config.get("label", self.default_label or self.kind))

    @classmethod
    def operations(cls) -> list[OperationSpec]:
        specs = []
        for _, member in inspect.getmembers(cls, predicate=inspect.isfunction):
            spec = getattr(member, "__operation__", None)
            if spec is not None:
                specs.append(spec)
        return sorted(specs, key=lambda s: s.name)

    @classmethod
    def facts(cls, data: Any) -> Facts:
        """The facts one of this connector's answers establishes (customers, charges, payees).

        The default is none: a write that moves money from a source or to a payee this
        system never vouched for is then rated high by the gate, which is the safe side."""
        return {}

    async def call(self, spec: OperationSpec, arguments: dict[str, Any], idempotency_key: str | None) -> Any:
        fn = getattr(self, spec.method_name)
        kwargs = dict(arguments)
        if spec.takes_idempotency_key:
            kwargs["idempotency_key"] = idempotency_key
        return await fn(**kwargs)

    @property
    def dynamic(self) -> bool:
        """True when operations come from the system at run time (MCP): await refresh() first."""
        return type(self).refresh is not Connector.refresh

    async def refresh(self) -> Any:
        """Load operations from the system; static connectors have nothing to load."""
        return None

    async def check(self) -> dict[str, Any]:
        """A cheap read that proves the connection works; subclasses override."""
        return {"ok": True}

    def live_checks(self) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        """Read-only calls that prove the client and the real service agree: each named,
        each parsing the answer the way the operations do. Never a write."""
        return [("check", self.check)]

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- webhooks (class methods: a delivery is checked before any client exists) ---

    @classmethod
    def takes_webhooks(cls) -> bool:
        """True when the kind declares how to read its webhooks (overrides `parse_webhook`, or
        `parse_webhooks` for a vendor that batches events)."""
        return any(
            "parse_webhook" in vars(k) or "parse_webhooks" in vars(k)
            for k in cls.__mro__
            if k is not Connector
        )

    @classmethod
    def verify_webhook(
        cls, body: bytes, headers: Mapping[str, str], secret: str, *, method: str = "POST", url: str = ""
    ) -> None:
        """Return if `body` (the raw bytes, before any parsing) provably came from the system,
        signed with the connection's `secret`; else raise `connectors.webhooks.SignatureError`
        naming the check that failed. `method` and `url` are the request as the system sent
        it (the URL it called, which behind a proxy is not the one this server sees): most
        schemes sign only the body, HubSpot's signs both. A kind that takes webhooks must
        override this: the default refuses every delivery, so an unchecked body is never trusted."""
        raise SignatureError(f"{cls.kind or cls.__name__} declares no webhook signature scheme")

    @classmethod
    def parse_webhook(cls, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """The verified delivery as one normalised event (see `connectors.webhooks`); a body
        that cannot be read raises `connectors.webhooks.PayloadError` naming the field."""
        raise NotImplementedError(f"{cls.kind or cls.__name__} does not take webhooks")

    @classmethod
    def parse_webhooks(cls, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        """Every event the verified delivery carries, in order. Most vendors send one event a
        delivery (this default wraps `parse_webhook`); one that batches (HubSpot sends up to
        100) overrides this instead, and each event is then deduplicated by its own id."""
        return [cls.parse_webhook(body, headers)]

    @classmethod
    def webhook_not_ours(cls, event: WebhookEvent, config: Mapping[str, Any]) -> str | None:
        """Why a verified event is not about the account this connection acts for (`config`),
        or None. A signature proves the vendor sent it; a vendor that signs several accounts'
        events with one secret names the account in the event, checked here. None by default."""
        return None

    # --- HTTP plumbing ---

    async def send(self, method: str, url: str, *, what: str = "", **kwargs: Any) -> httpx.Response:
        """One request: a lost one becomes a retryable ConnectorError, an error status
        `self.error(response, what)`. `what` names the thing worked on, for messages."""
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.label, what=what) from exc
        if not response.is_success:
            raise self.error(response, what)
        return response

    def error(self, response: httpx.Response, what: str = "") -> ConnectorError:
        """The error for a non-success answer; vendors override with their own error shape."""
        return status_error(response, self.label, what=what)

    def json_body(self, response: httpx.Response) -> Any:
        """The answer's JSON, or a ConnectorError saying it is not JSON."""
        try:
            return response.json()
        except ValueError as exc:
            raise ConnectorError(
                f"{self.label} answered {response.status_code} with a body that is not JSON"
            ) from exc

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The answer's JSON object; anything else (not JSON, a list, a string) is an error."""
        data = self.json_body(response)
        if not isinstance(data, dict):
            raise ConnectorError(f"{self.label} answered with JSON that is not an object")
        return data


def path_segment(value: str, what: str) -> str:
    """`value` as one segment of a URL path, or a ConnectorError. A `/` or `\\` in it (even
    percent-encoded: servers decode %2F before routing), a `.`/`..` segment, or a raw `?` or `#`
    would reach another endpoint of the system, such as a write behind a read's path."""
    decoded = unquote(value).strip()
    if not decoded or "/" in decoded or "\\" in decoded or "?" in value or "#" in value:
        raise ConnectorError(f"{value!r} is not a single {what}: it would change the path it is sent to")
    if decoded in (".", ".."):
        raise ConnectorError(f"{value!r} is not a {what}")
    return value


def about(what: str) -> str:
    """`what` as a message suffix: " (ticket 12)", or nothing."""
    return f" ({what})" if what else ""


def transport_error(
    exc: httpx.TransportError,
    system: str,
    *,
    doing: str = "",
    what: str = "",
    error_type: type[ConnectorError] = ConnectorError,
) -> ConnectorError:
    """A request that got no answer (timeout, refused, reset): retryable, in plain words.
    `doing` names the call in the timeout message ("did not answer GetInvoice in time")."""
    if isinstance(exc, httpx.TimeoutException):
        call = f" {doing}" if doing else ""
        return error_type(
            f"{system} did not answer{call} in time ({type(exc).__name__}){about(what)}", retryable=True
        )
    return error_type(f"could not reach {system}: {exc or type(exc).__name__}", retryable=True)


def status_error(response: httpx.Response, system: str, *, what: str = "") -> ConnectorError:
    """A generic ConnectorError for an HTTP error status, with the system's own message."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:300]
    detail = body
    if isinstance(body, dict):
        detail = body.get("error") or body.get("description") or body.get("message") or body
        if isinstance(detail, dict):
            detail = detail.get("message") or detail.get("title") or detail
    return ConnectorError(
        f"{system} answered {response.status_code}: {detail}{about(what)}",
        status=response.status_code,
        retryable=response.status_code in (408, 409, 425, 429) or response.status_code >= 500,
    )


async def raise_for_status(response: httpx.Response, system: str) -> None:
    """Turn an HTTP error into a ConnectorError with the system's own message."""
    if not response.is_success:
        raise status_error(response, system)
