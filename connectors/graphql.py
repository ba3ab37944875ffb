"""GraphQL over HTTP for connectors: one POST of `{"query", "variables"}`, errors in plain words.

A GraphQL server may answer HTTP 200 and still have failed: the failure is in the
body's `errors` array (message, path, `extensions.code`). Clients that only check
the status would hand a model `data: null` and no reason, so `execute` raises a
`GraphQLRequestError` (a ConnectorError) for HTTP errors *and* for a non-empty
`errors` array, naming each error's message, code and path.

Queries go out as POST, so `RetryTransport` repeats them only on 429 or when the
request never left; a mutation is never repeated blindly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.base import ConnectorError, about, transport_error

# extensions.code values that mean "the same request may succeed later".
RETRYABLE_CODES = frozenset({"RATELIMITED", "RATE_LIMITED", "SERVICE_UNAVAILABLE", "TIMEOUT"})


class GraphQLRequestError(ConnectorError):
    """A GraphQL request failed; `errors` holds the server's error objects as sent."""

    def __init__(
        self,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        status: int | None = None,
        retryable: bool = False,
    ):
        super().__init__(message, status=status, retryable=retryable)
        self.errors: list[dict[str, Any]] = list(errors or [])

    @property
    def codes(self) -> list[str]:
        """`extensions.code` of every error that has one, in order."""
        return [str(c) for e in self.errors if (c := (e.get("extensions") or {}).get("code"))]


def describe_error(error: Any) -> str:
    """One GraphQL error as text: message, the user-facing message if it adds something,
    `[CODE]`, and `at path.to.field` (or the line and column for errors without a path)."""
    if not isinstance(error, Mapping):
        return str(error)
    message = str(error.get("message") or "unknown error")
    extensions = error.get("extensions") if isinstance(error.get("extensions"), Mapping) else {}
    assert isinstance(extensions, Mapping)
    friendly = extensions.get("userPresentableMessage")
    if friendly and str(friendly) not in message:
        message = f"{message} ({friendly})"
    code = extensions.get("code")
    if code:
        message = f"{message} [{code}]"
    path = error.get("path")
    locations = error.get("locations")
    if isinstance(path, list) and path:
        message = f"{message} at {'.'.join(str(p) for p in path)}"
    elif isinstance(locations, list) and locations and isinstance(locations[0], Mapping):
        # No path (a syntax or validation error): say where in the query text it is.
        message = f"{message} at line {locations[0].get('line')}, column {locations[0].get('column')}"
    return message


def describe_errors(errors: list[Any], *, limit: int = 5) -> str:
    parts = [describe_error(e) for e in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


async def execute(
    client: httpx.AsyncClient,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    path: str = "/graphql",
    operation_name: str | None = None,
    system: str = "the GraphQL API",
    what: str = "",
) -> dict[str, Any]:
    """POST a query (or mutation) and return its `data`.

    Raises `GraphQLRequestError` when the request cannot be sent, the answer is not
    GraphQL JSON, the HTTP status is an error, or the body carries `errors`. `what`
    names the thing being worked on (e.g. "issue ENG-12") for the message.
    """
    payload: dict[str, Any] = {"query": query, "variables": dict(variables or {})}
    if operation_name:
        payload["operationName"] = operation_name
    try:
        response = await client.post(path, json=payload)
    except httpx.TransportError as exc:
        raise transport_error(exc, system, what=what, error_type=GraphQLRequestError) from exc
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    errors = [e if isinstance(e, dict) else {"message": str(e)} for e in errors] if errors else []
    retryable_status = status in (408, 425, 429) or status >= 500
    if not response.is_success:
        if errors:
            detail = describe_errors(errors)
        elif response.text.strip():
            detail = " ".join(response.text.split())[:200]
        else:
            detail = response.reason_phrase
        if status == 401:
            hint = "; check the API key or OAuth token"
        elif status == 429:
            retry_after = response.headers.get("retry-after")
            hint = f"; rate limited, retry after {retry_after} s" if retry_after else "; rate limited"
        else:
            hint = ""
        raise GraphQLRequestError(
            f"{system} answered {status}: {detail}{hint}{about(what)}",
            errors=errors,
            status=status,
            retryable=retryable_status or any(_code(e) in RETRYABLE_CODES for e in errors),
        )
    if errors:
        raise GraphQLRequestError(
            f"{system} answered with GraphQL errors: {describe_errors(errors)}{about(what)}",
            errors=errors,
            status=status,
            retryable=any(_code(e) in RETRYABLE_CODES for e in errors),
        )
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise GraphQLRequestError(
            f"{system} answered {status} without GraphQL data{about(what)}", status=status, retryable=False
        )
    data: dict[str, Any] = body["data"]
    return data


def _code(error: Mapping[str, Any]) -> str | None:
    extensions = error.get("extensions")
    return str(extensions.get("code")) if isinstance(extensions, Mapping) and extensions.get("code") else None
