"""What every connector is made of: operations with a derived JSON Schema.

A connector is a class whose methods are decorated with `@operation`. The
decorator records the effect (read or write), how the system makes a write safe
to retry, and a JSON Schema derived from the method's type hints, so adding an
operation never means writing a schema by hand. A connector is handed its
`httpx.AsyncClient` with auth, timeouts, retries and rate limits already attached.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import httpx
from pydantic import ConfigDict, TypeAdapter, create_model

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
class OperationSpec:
    name: str
    description: str
    effect: Effect
    idempotency: Idempotency
    input_schema: dict[str, Any]
    method_name: str
    takes_idempotency_key: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)


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
) -> Callable[[F], F]:
    """Mark a connector method as a tool. The docstring's first paragraph describes it."""

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
        )
        return fn

    return decorate


class Connector:
    """Base class. Subclasses set `kind` and decorate their operations.

    HTTP connectors send through `send` and parse with `json_object`, so a lost request
    and a non-JSON answer read the same everywhere; each vendor keeps its own error
    parsing in an `error` override."""

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # The system's name in messages when config has no `label` (e.g. "Zendesk").
    default_label: ClassVar[str] = ""

    def __init__(self, client: httpx.AsyncClient, config: dict[str, Any] | None = None):
        self.client = client
        self.config = dict(config or {})

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

    async def aclose(self) -> None:
        await self.client.aclose()

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
