"""A connector made from an OpenAPI 3.x document: one tool per operation.

Unlike the hand-written connectors, the operations are not decorated methods but
come from the document, so `operations()` answers per instance (tools_for calls it
on the instance) and `call()` builds the HTTP request itself: parameters
serialised by their OpenAPI style and explode (`serialize.py`: simple, label, matrix,
form, spaceDelimited, pipeDelimited, deepObject, allowReserved), the body sent as JSON,
or as a form or multipart body per the document's Encoding Object, or raw.

Config (the connection's `config`):
    spec                  the document: a dict, a file path, an http(s) URL or a bundled name ("petstore3")
    base_url              send requests here instead of the client's base_url
    credential_hosts      other hosts (https only) the connection's credentials may go to, for
                          operations whose own `servers` name them (default: none)
    write_methods         HTTP methods that write (default POST, PUT, PATCH, DELETE)
    read_only_operations  operationIds (or tool names) that are reads whatever their method (POST /search)
    write_operations      operationIds that write whatever their method (GET /logout); this list wins
    tags                  only operations with one of these tags become tools
    include_operations    only these become tools: tool names, operationIds, "METHOD /path" or
                          glob patterns of them ("get_*", "GET /v1/charges*")
    exclude_operations    these never become tools (same forms)
    schema_depth          $refs inlined this deep in a tool's input schema, the rest
                          summarised (default 3; null inlines everything)
    max_tool_tokens       a tool definition's budget in tokens; its depth is lowered to fit
                          (default 3000; null: no budget)
    max_description       characters kept of a property's description (default 300)
    keep_read_only        keep readOnly properties in inputs (default false: dropped)
    idempotency_header    the header the API honours for safe retries (e.g. "Idempotency-Key");
                          without it writes are idempotency "none" and never sent twice
    label                 the system's name in error messages (default: the document's title)

An operation's own `servers` (or its Path Item's) override the root server, which the
connection's base URL stands in for (OpenAPI 3.1.1, Operation Object `servers`); a relative one
is resolved against the document's URL, else the base URL. The connection's credentials go only
to the base URL's origin and `credential_hosts`: a document read from a URL must not be able to
send them elsewhere, so an operation served from another host is sent without them. Every host
is checked for reach when the request is sent, as the base URL's is (public_only clients).

Auth comes with the client, as for every connector; `auth_for(spec, credentials)`
builds it from the document's securitySchemes (apiKey, http bearer/basic, OAuth2
client credentials with a cached token renewed before it expires).
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import httpx

from connectors.auth import OAuth2ClientCredentials
from connectors.base import Connector, ConnectorError, OperationSpec, path_segment, transport_error
from connectors.http import IDEMPOTENCY_HEADER_EXTENSION, NOT_IDEMPOTENT, ApiKeyAuth, BearerAuth
from connectors.openapi import serialize
from connectors.openapi.importer import (
    OpenAPIOperation,
    OpenAPISpec,
    Parameter,
    SchemaOptions,
    SpecError,
    import_spec,
)
from connectors.reach import PublicOnlySyncTransport

DEFAULT_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_TEXT = 20_000  # characters of a non-JSON answer handed back


class _HybridOperations:
    """`operations` that answers on the class (decorated methods: none) and on an
    instance (the document's operations): the registry asks the class, tools_for the instance."""

    def __get__(self, obj: Any, cls: type | None = None) -> Callable[[], list[OperationSpec]]:
        if obj is None:
            return lambda: Connector.operations.__func__(cls)  # type: ignore[attr-defined]
        return obj._instance_operations  # type: ignore[no-any-return]


_spec_cache: dict[tuple[str, SchemaOptions], OpenAPISpec] = {}
_spec_lock = threading.Lock()


# The transport a document at a URL is fetched through (tests swap it for a MockTransport).
spec_transport: Callable[[], httpx.BaseTransport] = httpx.HTTPTransport


def _load_spec(
    source: Any, options: SchemaOptions | None = None, *, http: httpx.Client | None = None
) -> OpenAPISpec:
    """Parse each path/URL once per process and options; a dict is parsed every time."""
    options = options or SchemaOptions()
    if isinstance(source, OpenAPISpec):
        return source
    if isinstance(source, Mapping):
        return import_spec(source, options=options)
    if not isinstance(source, str) or not source.strip():
        raise SpecError("an openapi connection needs config.spec: the document, a file path or a URL")
    with _spec_lock:
        cached = _spec_cache.get((source, options))
    if cached is None:
        cached = import_spec(source, options=options, http=http)
        with _spec_lock:
            _spec_cache[(source, options)] = cached
    return cached


def _is_pattern(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def _ids(op: OpenAPIOperation) -> set[str]:
    """What a config entry may name an operation by: tool name, operationId, "METHOD /path"."""
    return {n for n in (op.name, op.operation_id, f"{op.method} {op.path}") if n}


def _matches(op: OpenAPIOperation, entries: set[str]) -> bool:
    ids = _ids(op)
    return any(
        any(fnmatch.fnmatchcase(i, entry) for i in ids) if _is_pattern(entry) else entry in ids
        for entry in entries
    )


class OpenAPIConnector(Connector):
    """Any REST API described by an OpenAPI 3.x document."""

    kind: ClassVar[str] = "openapi"
    description: ClassVar[str] = "Any REST API described by an OpenAPI 3 document: one tool per operation."
    # Tells registries and checks that the operations exist only per instance (per document).
    dynamic_operations: ClassVar[bool] = True
    required_config: ClassVar[dict[str, str]] = {"spec": "the OpenAPI document: a dict, a file path or a URL"}

    operations = _HybridOperations()  # type: ignore[assignment]

    @classmethod
    def prepare(cls, config: dict[str, Any], *, public_only: bool) -> None:
        """A document at a URL is fetched here, each redirect checked for reach as the
        connection's own requests are (the URL itself was checked when it was stored)."""
        source = config.get("spec")
        if not (isinstance(source, str) and urlsplit(source.strip()).scheme in ("http", "https")):
            return
        inner = spec_transport()
        transport = PublicOnlySyncTransport(inner) if public_only else inner
        with httpx.Client(timeout=15.0, follow_redirects=True, transport=transport) as http:
            _load_spec(source, SchemaOptions.from_config(config), http=http)

    def __init__(self, client: httpx.AsyncClient, config: dict[str, Any] | None = None):
        super().__init__(client, config)
        if "spec" not in self.config:
            raise SpecError("an openapi connection needs config.spec: the document, a file path or a URL")
        self.spec = _load_spec(self.config["spec"], SchemaOptions.from_config(self.config))
        self._specs, self._ops = self._build_operations()

    @property
    def label(self) -> str:
        return str(self.config.get("label") or self.spec.title)

    # --- operations ---

    def _names(self, key: str) -> set[str]:
        value = self.config.get(key) or []
        if isinstance(value, str):
            value = [value]
        return {str(v) for v in value}

    def effect_of(self, op: OpenAPIOperation) -> str:
        # A write named outright stays a write, whatever broader read pattern also matches it.
        if _matches(op, self._names("write_operations")):
            return "write"
        if _matches(op, self._names("read_only_operations")):
            return "read"
        methods = self.config.get("write_methods")
        writes = {m.upper() for m in methods} if methods else DEFAULT_WRITE_METHODS
        return "write" if op.method in writes else "read"

    def selected(self) -> list[OpenAPIOperation]:
        """The operations an operator chose: by `tags` (any of them), then
        `include_operations` / `exclude_operations`, each a tool name, an operationId,
        "METHOD /path", or a glob pattern of any of these ("get_*", "GET /v1/charges*")."""
        include, exclude = self._names("include_operations"), self._names("exclude_operations")
        tags = self._names("tags")
        named = include | exclude | self._names("read_only_operations") | self._names("write_operations")
        unknown = sorted(e for e in named if not any(_matches(op, {e}) for op in self.spec.operations))
        if unknown:
            raise SpecError(
                f"config names operations that {self.spec.title} does not have: {', '.join(unknown)}"
            )
        known_tags = {t for op in self.spec.operations for t in op.tags}
        if tags - known_tags:
            raise SpecError(
                f"config.tags names tags that {self.spec.title} does not use: "
                f"{', '.join(sorted(tags - known_tags))} (it has {', '.join(sorted(known_tags)) or 'none'})"
            )
        return [
            op
            for op in self.spec.operations
            if (not tags or tags & set(op.tags))
            and (not include or _matches(op, include))
            and not _matches(op, exclude)
        ]

    def _build_operations(self) -> tuple[list[OperationSpec], dict[str, OpenAPIOperation]]:
        keyed = bool(self.config.get("idempotency_header"))
        specs, ops = [], {}
        for op in self.selected():
            effect = self.effect_of(op)
            specs.append(
                OperationSpec(
                    name=op.name,
                    description=op.description_text,
                    effect=effect,  # type: ignore[arg-type]
                    idempotency="key" if effect == "write" and keyed else "none",
                    input_schema=op.input_schema,
                    method_name=op.name,
                    takes_idempotency_key=effect == "write" and keyed,
                    tags=op.tags,
                )
            )
            ops[op.name] = op
        return sorted(specs, key=lambda s: s.name), ops

    def tool_sizes(self) -> list[dict[str, Any]]:
        """Each selected tool's size for a model, largest first: tokens, and how deep its
        schema was inlined to fit the budget."""
        rows = [
            {
                "name": op.name,
                "method": op.method,
                "path": op.path,
                "tokens": op.tokens,
                "inline_depth": op.inline_depth,
            }
            for op in self._ops.values()
        ]
        return sorted(rows, key=lambda r: (-r["tokens"], r["name"]))

    def _instance_operations(self) -> list[OperationSpec]:
        return list(self._specs)

    # --- requests ---

    def _url(self, op: OpenAPIOperation, arguments: Mapping[str, Any]) -> str:
        path = op.path
        for p in op.parameters:
            if p.location != "path":
                continue
            if arguments.get(p.argument) is None:
                raise ConnectorError(f"{op.name} needs {p.argument}")
            value = _content_value(p, arguments[p.argument])
            try:
                text = serialize.path_value(p.name, value, p.style, p.explode)
            except serialize.SerializationError as exc:
                raise ConnectorError(f"{op.name}: {p.argument}: {exc}") from None
            path = path.replace(f"{{{p.name}}}", path_segment(text, f"{op.name} {p.argument}"))
        server = self._operation_server(op)
        if server:
            return server.rstrip("/") + path
        base = self._base()
        if not base:
            raise ConnectorError(
                f"{self.label}: no base URL; set the connection's base_url or config.base_url"
            )
        if self.client.base_url.host and not self.config.get("base_url"):
            return path  # relative: the client joins it to its base_url
        return str(base).rstrip("/") + path

    def _base(self) -> str | None:
        """The connection's base URL: config.base_url, the client's, else the document's server."""
        base = self.config.get("base_url") or (
            str(self.client.base_url) if self.client.base_url.host else None
        )
        return str(base) if base else self.spec.server_url()

    def _operation_server(self, op: OpenAPIOperation) -> str | None:
        """The operation's own server URL, absolute, or None when the root server applies."""
        if not op.servers:
            return None
        url = op.servers[0]
        if urlsplit(url).scheme in ("http", "https"):
            return url
        source = self.spec.source
        against = source if source and urlsplit(source).scheme in ("http", "https") else self._base()
        return urljoin(against, url) if against else None

    def credentials_go_to(self, url: httpx.URL) -> bool:
        """Whether the connection's credentials may be sent to `url`: the base URL's origin, or
        an https host the operator listed in `credential_hosts`."""
        base = self._base()
        if base:
            own = httpx.URL(base)
            if (url.scheme, url.host, url.port) == (own.scheme, own.host, own.port):
                return True
        return url.scheme == "https" and url.host in {h.lower() for h in self._names("credential_hosts")}

    async def _send(self, request: httpx.Request) -> tuple[httpx.Response, bool]:
        """Send with the client's auth where credentials may go, else without; and which it was."""
        trusted = self.credentials_go_to(request.url)
        auth = httpx.USE_CLIENT_DEFAULT if trusted else None
        return await self.client.send(request, auth=auth), trusted

    def build_request(
        self, op: OpenAPIOperation, arguments: Mapping[str, Any], idempotency_key: str | None = None
    ) -> httpx.Request:
        """The HTTP request for one call (not sent): exposed so it can be tested and logged.

        A write is marked NOT_IDEMPOTENT whatever its method (a GET named in `write_operations`,
        a PUT or DELETE the API may not keep idempotent): without `idempotency_header` it has
        idempotency "none", so the retry transport never sends it twice, as the executor never
        does; with the header and a key, the transport may repeat it, the key deduplicating it."""
        allowed = {p.argument for p in op.parameters} | ({op.body.argument} if op.body else set())
        extra = sorted(set(arguments) - allowed)
        if extra:
            raise ConnectorError(f"{op.name} does not take {', '.join(extra)}")
        query, headers = _parameters(op, arguments)
        kwargs, body_headers = _body(op, arguments)
        headers.update(body_headers)
        extensions: dict[str, Any] = {}
        if self.effect_of(op) == "write":
            extensions.update(NOT_IDEMPOTENT)
            header_name = self.config.get("idempotency_header")
            if header_name and idempotency_key:
                headers[str(header_name)] = idempotency_key
                extensions[IDEMPOTENCY_HEADER_EXTENSION] = str(header_name)
        url = self._url(op, arguments)
        if query:  # already encoded per style: httpx must not encode it again
            url = f"{url}{'&' if '?' in url else '?'}{'&'.join(query)}"
        return self.client.build_request(op.method, url, headers=headers, extensions=extensions, **kwargs)

    async def call(self, spec: OperationSpec, arguments: dict[str, Any], idempotency_key: str | None) -> Any:
        op = self._ops.get(spec.name)
        if op is None:
            raise ConnectorError(f"{self.label} has no operation {spec.name}")
        request = self.build_request(op, arguments, idempotency_key if spec.takes_idempotency_key else None)
        try:
            response, trusted = await self._send(request)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.label, doing=op.name) from exc
        if not response.is_success:
            raise _error(self.label, op, response, None if trusted else request.url.host)
        return _result(response)

    async def check(self) -> dict[str, Any]:
        """Whether the API answers at all (any HTTP status proves the URL and network)."""
        base = self._base()
        if not base:
            raise ConnectorError(f"{self.label}: no base URL configured")
        try:
            response = await self.client.get(str(base))
        except httpx.HTTPError as exc:
            raise ConnectorError(f"could not reach {self.label}: {exc or type(exc).__name__}") from exc
        if response.status_code in (401, 403):
            raise ConnectorError(f"{self.label} rejected the credentials ({response.status_code})")
        # Any answer at the base proves the network, not the path: many APIs answer 404 there.
        # A read the document defines and that needs no argument shows the path is the API's.
        probe = next(
            (
                op
                for op in self._ops.values()
                if op.method == "GET"
                and self.effect_of(op) == "read"
                and not any(p.required for p in op.parameters)
            ),
            None,
        )
        if probe is not None:
            try:
                answer, _ = await self._send(self.build_request(probe, {}))
            except httpx.HTTPError as exc:
                raise ConnectorError(f"could not reach {self.label}: {exc or type(exc).__name__}") from exc
            if answer.status_code in (401, 403):
                raise ConnectorError(f"{self.label} rejected the credentials ({answer.status_code})")
            if answer.status_code in (404, 405):
                raise ConnectorError(
                    f"{self.label} answered {answer.status_code} to {probe.method} {probe.path}, which its "
                    f"document defines: check the base URL ({base})"
                )
        sizes = self.tool_sizes()
        return {
            "ok": True,
            "operations": len(self._specs),
            "status": response.status_code,
            "tool_tokens": {"total": sum(r["tokens"] for r in sizes), "largest": sizes[0] if sizes else None},
        }


def _content_value(p: Parameter, value: Any) -> Any:
    """A parameter defined by `content` (not `schema`) is sent as that media type: JSON text."""
    if p.content_type and (p.content_type == "application/json" or p.content_type.endswith("+json")):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def _error(
    label: str, op: OpenAPIOperation, response: httpx.Response, bare_host: str | None = None
) -> ConnectorError:
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = " ".join(response.text.split())[:300]
    detail = body
    if isinstance(body, dict):
        for key in ("message", "detail", "error_description", "error", "title", "description"):
            if isinstance(body.get(key), str) and body[key]:
                detail = body[key]
                break
    detail = detail or response.reason_phrase
    if status == 401:
        message = f"{label} rejected the credentials (401: {detail}); check the connection's credentials"
    elif status == 403:
        message = f"{label} refused access to {op.name} (403: {detail})"
    else:
        message = f"{label} answered {status} to {op.name} ({op.method} {op.path}): {detail}"
    if bare_host and status in (401, 403):
        message += (
            f" (sent without the connection's credentials: {bare_host} is the operation's own server, "
            "not the connection's host; list it in config.credential_hosts to send them there)"
        )
    return ConnectorError(message, status=status, retryable=status in (408, 425, 429) or status >= 500)


def _result(response: httpx.Response) -> Any:
    if not response.content:
        return {"status": response.status_code, "ok": True}
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            return response.json()
        except ValueError:
            pass
    text = response.text
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + " …"
    return {"status": response.status_code, "content_type": ctype or None, "text": text}


# --- auth ----------------------------------------------------------------------------


class CookieApiKeyAuth(httpx.Auth):
    """An API key sent as a cookie (OpenAPI apiKey `in: cookie`)."""

    def __init__(self, name: str, key: str):
        self.name = name
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        cookie = f"{self.name}={self._key}"
        existing = request.headers.get("Cookie")
        request.headers["Cookie"] = f"{existing}; {cookie}" if existing else cookie
        yield request

    def __repr__(self) -> str:
        return f"CookieApiKeyAuth(name={self.name!r}, key=***)"


def _credential(credentials: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = credentials.get(name)
        if value:
            return str(value)
    return None


def _scheme_auth(
    spec: OpenAPISpec,
    name: str,
    scheme: Mapping[str, Any],
    creds: Mapping[str, Any],
    base_url: str | None = None,
    clock: Callable[[], float] | None = None,
) -> httpx.Auth | None:
    kind = str(scheme.get("type", "")).lower()
    if kind == "apikey":
        key = _credential(creds, "key", "api_key", "token")
        if key is None:
            return None
        where, param = scheme.get("in"), str(scheme.get("name") or "")
        if not param:
            raise SpecError(f"components.securitySchemes.{name} (apiKey) needs a 'name'")
        if where == "header":
            return ApiKeyAuth(key, header=param)
        if where == "query":
            return ApiKeyAuth(key, query_param=param)
        if where == "cookie":
            return CookieApiKeyAuth(param, key)
        raise SpecError(f"components.securitySchemes.{name}: apiKey 'in' must be header, query or cookie")
    if kind == "http":
        http_scheme = str(scheme.get("scheme", "")).lower()
        if http_scheme == "bearer":
            token = _credential(creds, "token", "access_token")
            return BearerAuth(token) if token else None
        if http_scheme == "basic":
            user, password = _credential(creds, "username"), _credential(creds, "password")
            return httpx.BasicAuth(user, password) if user and password is not None else None
        return None
    if kind in ("oauth2", "openidconnect"):
        flows = scheme.get("flows") or {}
        client_id, secret = _credential(creds, "client_id"), _credential(creds, "client_secret")
        flow = flows.get("clientCredentials") if isinstance(flows, dict) else None
        if client_id and secret and isinstance(flow, dict):
            token_url = flow.get("tokenUrl")
            if not token_url:
                raise SpecError(f"components.securitySchemes.{name}: clientCredentials needs a tokenUrl")
            token_url = str(creds.get("token_url") or token_url)
            if not httpx.URL(token_url).is_absolute_url:
                base = base_url or spec.server_url()
                if not base:
                    raise SpecError(
                        f"components.securitySchemes.{name}: tokenUrl {token_url!r} is relative and there is "
                        "no absolute server URL to resolve it against; give credentials 'token_url'"
                    )
                token_url = urljoin(base.rstrip("/") + "/", token_url)
            scopes = creds.get("scopes")
            return OAuth2ClientCredentials(
                token_url,
                client_id,
                secret,
                list(scopes) if isinstance(scopes, list) else list((flow.get("scopes") or {}).keys()) or None,
                client_auth="post" if creds.get("client_auth") in ("body", "post") else "basic",
                clock=clock or time.time,
            )
        token = _credential(creds, "token", "access_token")  # a token obtained elsewhere
        return BearerAuth(token) if token else None
    return None


def auth_for(
    spec: OpenAPISpec,
    credentials: Mapping[str, Any] | None,
    *,
    scheme: str | None = None,
    base_url: str | None = None,
    clock: Callable[[], float] | None = None,
) -> httpx.Auth | None:
    """The httpx auth for a connection to this API, from its securitySchemes and the credentials.

    Credentials use the same names as the rest of Switchboard: `key` (apiKey), `token`
    (bearer, or an OAuth2 access token got elsewhere), `username`/`password` (basic),
    `client_id`/`client_secret` (OAuth2 client credentials through
    `connectors.auth.OAuth2ClientCredentials`: cached, renewed before expiry and on a 401;
    optional `scopes`, `token_url`, `client_auth` "basic" or "post"; a relative tokenUrl
    is resolved against `base_url` or the document's server; `clock` is for tests). `scheme` (or credentials["scheme"]) picks a scheme by
    name; otherwise the first scheme, in the document's order of security requirements,
    that these credentials can satisfy. No credentials: None. Credentials that fit no
    scheme: SpecError naming the schemes the API offers.
    """
    creds = {k: v for k, v in (credentials or {}).items() if v not in (None, "")}
    wanted = scheme or creds.pop("scheme", None)
    if not creds:
        return None
    schemes = spec.security_schemes
    if wanted is not None:
        if wanted not in schemes:
            raise SpecError(
                f"{spec.title} has no security scheme {wanted!r}; it has {', '.join(schemes) or 'none'}"
            )
        auth = _scheme_auth(spec, wanted, schemes[wanted], creds, base_url, clock)
        if auth is None:
            raise SpecError(
                f"the credentials do not fit security scheme {wanted!r} ({_describe(schemes[wanted])})"
            )
        return auth
    order: list[str] = []
    requirements = list(spec.security) + [r for op in spec.operations for r in (op.security or [])]
    for requirement in requirements:
        order += [n for n in requirement if n in schemes and n not in order]
    order += [n for n in schemes if n not in order]
    for name in order:
        auth = _scheme_auth(spec, name, schemes[name], creds, base_url, clock)
        if auth is not None:
            return auth
    offered = "; ".join(f"{n}: {_describe(s)}" for n, s in schemes.items()) or "none"
    raise SpecError(
        f"the credentials ({', '.join(sorted(creds))}) fit none of {spec.title}'s security schemes ({offered})"
    )


def _describe(scheme: Mapping[str, Any]) -> str:
    kind = str(scheme.get("type", "?"))
    if kind == "apiKey":
        return f"apiKey in {scheme.get('in')} {scheme.get('name')!r}, credential 'key'"
    if kind == "http":
        return f"http {scheme.get('scheme')}, credentials " + (
            "'username'/'password'" if str(scheme.get("scheme")).lower() == "basic" else "'token'"
        )
    if kind == "oauth2":
        flows = ", ".join(scheme.get("flows") or {})
        return f"oauth2 ({flows}), credentials 'client_id'/'client_secret' or 'token'"
    return kind


def _parameters(op: OpenAPIOperation, arguments: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Query parts (already encoded per style) and headers (cookies included) from the
    operation's parameters; path parameters go into the URL elsewhere."""
    query: list[str] = []
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for p in op.parameters:
        value = arguments.get(p.argument)
        if value is None:
            if p.required and p.location != "path":
                raise ConnectorError(f"{op.name} needs {p.argument}")
            continue
        value = _content_value(p, value)
        try:
            if p.location == "query":
                query += serialize.query_parts(p.name, value, p.style, p.explode, p.allow_reserved)
            elif p.location == "header":
                headers[p.name] = serialize.header_value(value, p.explode)
            elif p.location == "cookie":
                cookies += serialize.cookie_parts(p.name, value, p.explode)
        except serialize.SerializationError as exc:
            raise ConnectorError(f"{op.name}: {p.argument}: {exc}") from None
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    return query, headers


def _body(op: OpenAPIOperation, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """httpx keyword arguments for the request body, and its Content-Type, in the media type
    the operation declares (JSON, form, multipart, or as given)."""
    if op.body is None:
        return {}, {}
    body = arguments.get(op.body.argument)
    if body is None:
        if op.body.required:
            raise ConnectorError(f"{op.name} needs {op.body.argument}")
        return {}, {}
    ctype = op.body.content_type
    base_type = ctype.split(";")[0].strip().lower()
    if base_type == "application/json" or base_type.endswith("+json"):
        return {"content": json.dumps(body, ensure_ascii=False).encode()}, {"Content-Type": ctype}
    if base_type in ("application/x-www-form-urlencoded", "multipart/form-data") and not isinstance(
        body, Mapping
    ):
        raise ConnectorError(f"{op.name}: {op.body.argument} must be an object of form fields")
    if base_type == "application/x-www-form-urlencoded":
        try:
            content = serialize.form_body(body, op.body.encoding).encode()
        except serialize.SerializationError as exc:
            raise ConnectorError(f"{op.name}: {op.body.argument}: {exc}") from None
        return {"content": content}, {"Content-Type": "application/x-www-form-urlencoded"}
    if base_type == "multipart/form-data":
        return {"files": serialize.multipart_fields(body, op.body.encoding, op.body.schema)}, {}
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return {"content": content}, {"Content-Type": ctype}
