"""Read an OpenAPI 3.x document into operations a model can call.

`import_spec(source)` takes a file path, an http(s) URL, the name of a bundled
spec (see `specs/`), or the already-parsed document, in JSON or YAML. Each
operation becomes an `OpenAPIOperation` with a tool name (its operationId,
snake_cased, limited to [a-z0-9_], made unique by `tool_names`) and one JSON Schema (draft
2020-12) for its input: the path, query, header and cookie parameters as
properties, and the request body as `body`. Every `$ref` is inlined, so the schema
stands alone; a recursive reference is cut to a plain object at the second visit.

A document we cannot use raises `SpecError` naming where it went wrong
(`paths./pet/{petId}.get.parameters[0]: ...`), never a KeyError from deep inside.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from connectors.openapi.serialize import DEFAULT_STYLE, STYLES
from connectors.openapi.tokens import tool_tokens

SPECS_DIR = Path(__file__).with_name("specs")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAM_LOCATIONS = ("path", "query", "header", "cookie")
MAX_NAME = 40  # tool names are <connection>__<operation>, at most 64 characters in all
MAX_SCHEMA_DEPTH = 24
# Schema objects one operation may build while its $refs are inlined: each $ref is inlined afresh,
# so a few schemas whose properties refer to the next multiply (60 properties, 3 deep: 216,000).
# Past it the operation is inlined less deeply, down to summaries of every $ref.
MAX_SCHEMA_NODES = 20_000
# ... and a whole document's operations together: past it, each further operation's $refs are
# summarised, so a document of many operations sharing such a body is still bounded work.
MAX_DOCUMENT_SCHEMA_NODES = 500_000
_MAX_SPEC_BYTES = 20 * 1024 * 1024

# OpenAPI-only keywords that mean nothing to a JSON Schema validator or a model.
_DROP_KEYS = frozenset({"xml", "externalDocs", "discriminator", "example", "x-nullable"})


class SpecError(ValueError):
    """The document cannot be used; the message names the place and the problem."""


@dataclass(frozen=True)
class SchemaOptions:
    """How much of the document a tool's input schema carries.

    A large API's schemas, fully inlined, run to hundreds of kilobytes a tool: no model
    takes that. `inline_depth` inlines `$ref`s that many levels deep and summarises the
    rest (name, first sentence, field names); `max_tokens` lowers the depth further for a
    tool until its definition fits, when it can; read-only properties (ids, timestamps the
    server sets) are left out of inputs; long descriptions are cut."""

    inline_depth: int | None = 3  # None: inline everything
    max_tokens: int | None = 3000  # per tool definition; None: no budget
    max_description: int | None = 300  # characters; None: keep whole
    drop_read_only: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SchemaOptions:
        """From a connection's config: schema_depth, max_tool_tokens, max_description, keep_read_only."""
        default = cls()

        def number(key: str, fallback: int | None) -> int | None:
            if key not in config:
                return fallback
            value = config[key]
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SpecError(f"config.{key} must be a whole number of at least 0, or null")
            return value

        return cls(
            inline_depth=number("schema_depth", default.inline_depth),
            max_tokens=number("max_tool_tokens", default.max_tokens),
            max_description=number("max_description", default.max_description),
            drop_read_only=not bool(config.get("keep_read_only", False)),
        )


# The importer as it was: every $ref inlined, nothing dropped (for comparisons and tests).
FULL_SCHEMAS = SchemaOptions(inline_depth=None, max_tokens=None, max_description=None, drop_read_only=False)


@dataclass(frozen=True)
class Parameter:
    name: str  # as the API spells it
    location: str  # path | query | header | cookie
    argument: str  # the property name in the tool's input schema
    required: bool
    schema: dict[str, Any]
    style: str
    explode: bool
    allow_reserved: bool = False
    content_type: str | None = None  # a parameter given by `content` (serialized as that type)


@dataclass(frozen=True)
class RequestBody:
    content_type: str
    schema: dict[str, Any]
    required: bool
    argument: str = "body"
    # The media type's Encoding Object per property (style, explode, allowReserved, contentType).
    encoding: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenAPIOperation:
    name: str  # tool operation name, [a-z0-9_]
    operation_id: str | None
    method: str  # upper case
    path: str
    summary: str
    description: str
    parameters: tuple[Parameter, ...]
    body: RequestBody | None
    input_schema: dict[str, Any]
    # None: the document's global requirement applies; [] : explicitly anonymous
    security: list[dict[str, list[str]]] | None
    tags: tuple[str, ...] = ()
    deprecated: bool = False
    # The operation's own `servers`, else its Path Item's (variables at their defaults); empty:
    # the document's root servers, i.e. the connection's base URL, apply.
    servers: tuple[str, ...] = ()
    tokens: int = 0  # the tool definition's size for a model (name, description, input schema)
    inline_depth: int | None = None  # how deep $refs were inlined to fit SchemaOptions.max_tokens

    @property
    def description_text(self) -> str:
        """What the tool says about itself: summary, description, method and path."""
        text = self.summary or self.description or f"{self.method} {self.path}"
        if self.summary and self.description and self.description.rstrip(".") != self.summary.rstrip("."):
            text = f"{self.summary.rstrip('.')}. {self.description}"
        return f"{text} ({self.method} {self.path})" + (" Deprecated." if self.deprecated else "")


@dataclass
class OpenAPISpec:
    document: dict[str, Any]
    title: str
    version: str
    openapi: str
    servers: list[str]
    operations: list[OpenAPIOperation]
    security_schemes: dict[str, dict[str, Any]]
    security: list[dict[str, list[str]]]
    source: str | None = None  # where it was read from, for resolving relative server URLs
    _by_name: dict[str, OpenAPIOperation] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {op.name: op for op in self.operations}

    def operation(self, name: str) -> OpenAPIOperation:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no operation {name!r} in {self.title}") from None

    def find(self, operation_id: str) -> OpenAPIOperation | None:
        """By operationId or by tool name."""
        for op in self.operations:
            if operation_id in (op.operation_id, op.name):
                return op
        return None

    def server_url(self) -> str | None:
        """The first server's URL, made absolute against the document's own URL if needed."""
        if not self.servers:
            return None
        url = self.servers[0]
        if urlsplit(url).scheme in ("http", "https"):
            return url
        if self.source and urlsplit(self.source).scheme in ("http", "https"):
            return urljoin(self.source, url)
        return None


# --- loading -------------------------------------------------------------------------


def bundled_specs() -> dict[str, Path]:
    """Specs shipped in connectors/openapi/specs, by file stem (e.g. 'petstore3')."""
    return {p.stem: p for p in sorted(SPECS_DIR.iterdir()) if p.suffix in (".json", ".yaml", ".yml")}


def _parse_text(text: str, name: str) -> Any:
    """Errors say where (line and column), never what: the text may be anything the URL or path
    led to, and an error message is shown to people and stored on the connection."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    try:
        import yaml

        from connectors.openapi import yaml_text
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        raise SpecError(f"{name} looks like YAML, and PyYAML is not installed") from None
    try:
        return yaml_text.load(text)
    except yaml_text.AliasBomb as exc:
        raise SpecError(f"{name} is refused: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise SpecError(f"{name} is not valid YAML{where}") from None


def load_document(
    source: str | Mapping[str, Any], *, http: httpx.Client | None = None
) -> tuple[Any, str | None]:
    """The raw document and where it came from (None for a dict)."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source)), None
    if not isinstance(source, str) or not source.strip():
        raise SpecError(f"an OpenAPI source must be a path, a URL or a document, not {source!r}")
    source = source.strip()
    if urlsplit(source).scheme in ("http", "https"):
        try:
            if http is not None:
                response = http.get(source)
            else:
                with httpx.Client(timeout=15.0, follow_redirects=True) as client:
                    response = client.get(source)
        except httpx.HTTPError as exc:
            raise SpecError(f"could not fetch the OpenAPI document at {source}: {exc}") from None
        if not response.is_success:
            raise SpecError(f"fetching the OpenAPI document at {source} answered {response.status_code}")
        if len(response.content) > _MAX_SPEC_BYTES:
            raise SpecError(f"the OpenAPI document at {source} is larger than 20 MB")
        # Where the document was read from, after any redirect: its relative server URLs are
        # relative to that (RFC 3986 §5.1.3), not to the address first asked.
        return _parse_text(response.text, source), str(response.url)
    path = Path(source).expanduser()
    if not path.exists():
        bundled = bundled_specs().get(source)
        if bundled is None:
            raise SpecError(
                f"no OpenAPI document at {source!r}: not a file, not an http(s) URL, and not a bundled "
                f"spec ({', '.join(bundled_specs()) or 'none'})"
            )
        path = bundled
    if not path.is_file():
        raise SpecError(f"{source} is not a file")
    if path.stat().st_size > _MAX_SPEC_BYTES:
        raise SpecError(f"{source} is larger than 20 MB")
    return _parse_text(path.read_text(encoding="utf-8"), str(path)), str(path)


def import_spec(
    source: str | Mapping[str, Any],
    *,
    http: httpx.Client | None = None,
    options: SchemaOptions | None = None,
) -> OpenAPISpec:
    """Load and check an OpenAPI 3.x document; see the module docstring."""
    document, origin = load_document(source, http=http)
    return build_spec(document, source=origin, options=options)


# --- $ref resolution and schema conversion ------------------------------------------


class _TooLarge(Exception):
    """An operation's schema grew past MAX_SCHEMA_NODES while its $refs were being inlined."""


class _Shared:
    """What every resolver of one document shares: its plain-name fragments (`$anchor`,
    `$dynamicAnchor`: JSON Schema 2020-12 §8.2.2) and the schemas defining each, found in one
    walk the first time a `#name` ref is met (a walk per ref cost refs x document); and the
    schema objects its operations have built so far (MAX_DOCUMENT_SCHEMA_NODES), and the schemas
    of parameters and bodies converted so far (a body shared by many operations is built once)."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self._index: dict[str, list[Any]] | None = None
        self.built = 0
        self.converted: dict[tuple[int, SchemaOptions], dict[str, Any] | None] = {}  # Resolver.top_schema

    def named(self, name: str) -> list[Any]:
        if self._index is None:
            self._index = {}
            seen: set[int] = set()
            stack: list[Any] = [self.document]
            while stack:  # each node once, however often YAML aliases share it
                node = stack.pop()
                if id(node) in seen:
                    continue
                seen.add(id(node))
                if isinstance(node, dict):
                    for key in ("$anchor", "$dynamicAnchor"):
                        if isinstance(node.get(key), str):
                            defined = self._index.setdefault(node[key], [])
                            if not any(d is node for d in defined):
                                defined.append(node)
                    stack += [v for v in node.values() if isinstance(v, (dict, list))]
                elif isinstance(node, list):
                    stack += [v for v in node if isinstance(v, (dict, list))]
        return self._index.get(name, [])


class _Resolver:
    def __init__(
        self, document: dict[str, Any], options: SchemaOptions = FULL_SCHEMAS, shared: _Shared | None = None
    ):
        self.document = document
        self.options = options
        self.shared = shared or _Shared(document)
        self.built = 0  # schema objects built so far: $refs fanning out multiply them

    def summary(self, target: Any, name: str, where: str) -> dict[str, Any]:
        """A referenced schema past the inline depth: its type, and in words what it holds."""
        node = self.deref(target, where) if isinstance(target, dict) else {}
        fields: list[str] = []
        kinds: list[str] = []
        for part in [node, *[self.deref(p, where) for p in node.get("allOf") or [] if isinstance(p, dict)]]:
            if isinstance(part, dict):
                fields += [str(k) for k in (part.get("properties") or {}) if k not in fields]
                if isinstance(part.get("type"), str):
                    kinds.append(part["type"])
        kind = node.get("type") if isinstance(node.get("type"), str) else (kinds[0] if kinds else None)
        if kind is None and fields:
            kind = "object"
        text = f"a {name}"
        about = " ".join(str(node.get("description") or "").split())
        if about:
            text += ": " + about.split(". ")[0].rstrip(".")[:160]
        if fields:
            text += "; fields: " + ", ".join(fields[:15]) + (", …" if len(fields) > 15 else "")
        out: dict[str, Any] = {"description": text + " (not expanded here)"}
        if kind is not None:
            out["type"] = kind
        if isinstance(node.get("enum"), list):
            out["enum"] = copy.deepcopy(node["enum"])
        return out

    def lookup(self, ref: str, where: str) -> Any:
        if not isinstance(ref, str):
            raise SpecError(f"{where}: $ref must be a string")
        if not ref.startswith("#"):
            raise SpecError(
                f"{where}: $ref {ref!r} points outside this document; bundle the spec into one file first"
            )
        if ref not in ("#", "") and not ref.startswith("#/"):
            return self._anchor(unquote(ref[1:]), ref, where)
        node: Any = self.document
        for raw in ref[1:].split("/")[1:] if ref != "#" else []:
            token = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise SpecError(f"{where}: $ref {ref!r} does not resolve (no {token!r} there)")
        return node

    def _anchor(self, name: str, ref: str, where: str) -> Any:
        """A plain-name fragment (`#Pet`): the schema whose `$anchor` (or `$dynamicAnchor`, which
        creates the same fragment) is that name, never the whole document."""
        found = self.shared.named(name)
        if len(found) != 1:
            how = "no schema has" if not found else "more than one schema has"
            raise SpecError(
                f"{where}: $ref {ref!r} does not resolve ({how} $anchor or $dynamicAnchor {name!r})"
            )
        return found[0]

    def deref(self, node: Any, where: str) -> Any:
        """Follow $ref chains of non-schema objects (parameters, request bodies)."""
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise SpecError(f"{where}: $ref {ref!r} refers to itself")
            seen.add(ref)
            node = self.lookup(ref, where)
        return node

    def top_schema(self, node: Any, where: str) -> dict[str, Any]:
        """`schema` for a parameter's or a body's own schema: converted once per document and
        options however many operations share it (a shared request body), then copied."""
        key = (id(node), self.options)
        if key not in self.shared.converted:
            try:
                self.shared.converted[key] = self.schema(node, where)
            except _TooLarge:
                self.shared.converted[key] = None  # too large at these options, for every sharer
                raise
        converted = self.shared.converted[key]
        if converted is None:
            raise _TooLarge
        return copy.deepcopy(converted)

    def schema(self, node: Any, where: str, stack: tuple[str, ...] = (), depth: int = 0) -> dict[str, Any]:
        """An OpenAPI schema object as standalone JSON Schema 2020-12 (refs inlined)."""
        if node is True or node is None:
            return {}
        if node is False:
            return {"not": {}}
        if not isinstance(node, dict):
            raise SpecError(f"{where}: a schema must be an object, got {type(node).__name__}")
        if depth > MAX_SCHEMA_DEPTH:
            return {"type": "object", "description": "(nested too deeply to describe here)"}
        self.built += 1
        self.shared.built += 1
        if self.built > MAX_SCHEMA_NODES:
            raise _TooLarge
        if "$ref" in node:
            return self._ref(node, where, stack, depth)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP_KEYS or key.startswith("x-"):
                continue
            if key == "examples" and isinstance(value, dict):
                continue  # OpenAPI's examples map, not JSON Schema's list
            out[key] = self._keyword(key, value, where, stack, depth + 1)
        read_only = self._drop_read_only(out)
        return _as_json_schema(out, node, read_only)

    def _ref(self, node: dict[str, Any], where: str, stack: tuple[str, ...], depth: int) -> dict[str, Any]:
        """A `$ref` inlined: described instead when it recurs or the inline depth is reached."""
        ref = node["$ref"]
        target = self.lookup(ref, where)
        name = ref.rsplit("/", 1)[-1].lstrip("#")
        if ref in stack:  # recursion: describe it, do not expand it again
            return {"type": "object", "description": f"a {name} (recursive; same shape as above)"}
        limit = self.options.inline_depth
        if limit is not None and len(stack) >= limit:
            return self.summary(target, name, where)
        resolved = self.schema(target, where, (*stack, ref), depth + 1)
        siblings = {k: v for k, v in node.items() if k != "$ref"}  # 3.1 allows these
        if siblings:
            resolved = {**resolved, **self.schema(siblings, where, stack, depth + 1)}
        return resolved

    def _keyword(self, key: str, value: Any, where: str, stack: tuple[str, ...], depth: int) -> Any:
        """One keyword of a schema object, its subschemas converted at `depth`."""
        if key in _SCHEMA_MAPS:
            if not isinstance(value, dict):
                raise SpecError(f"{where}.{key} must be an object")
            return {k: self.schema(v, f"{where}.{key}.{k}", stack, depth) for k, v in value.items()}
        if key == "description" and isinstance(value, str):
            return self._description(value)
        if key in _SUBSCHEMAS:
            if isinstance(value, bool):
                return value
            if isinstance(value, list):
                return [self.schema(v, f"{where}.{key}[{i}]", stack, depth) for i, v in enumerate(value)]
            return self.schema(value, f"{where}.{key}", stack, depth)
        if key in _SCHEMA_LISTS:
            if not isinstance(value, list):
                raise SpecError(f"{where}.{key} must be a list")
            return [self.schema(v, f"{where}.{key}[{i}]", stack, depth) for i, v in enumerate(value)]
        return copy.deepcopy(value)

    def _description(self, value: str) -> str:
        limit = self.options.max_description
        if limit is None:
            return value
        text = " ".join(value.split())
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

    def _drop_read_only(self, out: dict[str, Any]) -> set[str]:
        """Remove what the server sets from an input's properties (OpenAPI: readOnly
        properties SHOULD NOT be sent in a request); return their names."""
        properties = out.get("properties")
        if not self.options.drop_read_only or not isinstance(properties, dict):
            return set()
        read_only = {k for k, v in properties.items() if v.get("readOnly") is True}
        out["properties"] = {k: v for k, v in properties.items() if k not in read_only}
        return read_only


# Keywords whose value is a map of names to subschemas, a subschema (or a list of them, or a
# boolean), or a list of subschemas.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
_SUBSCHEMAS = frozenset(
    {"items", "additionalProperties", "not", "contains", "propertyNames",
     "additionalItems", "unevaluatedProperties", "if", "then", "else"}
)  # fmt: skip
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def _as_json_schema(out: dict[str, Any], node: dict[str, Any], read_only: set[str]) -> dict[str, Any]:
    """OpenAPI 3.0's dialect (nullable, boolean exclusive bounds, `example`) as JSON Schema."""
    if out.pop("nullable", False) is True:
        _nullable(out)
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if out.get(exclusive) is True and bound in out:
            out[exclusive] = out.pop(bound)
        elif out.get(exclusive) is False:
            out.pop(exclusive)
    if "example" in node and "examples" not in out:
        out["examples"] = [copy.deepcopy(node["example"])]
    if read_only and isinstance(out.get("required"), list):
        out["required"] = [r for r in out["required"] if r not in read_only]
        if not out["required"]:
            del out["required"]
    if "properties" in out and "type" not in out and not any(k in out for k in ("allOf", "anyOf", "oneOf")):
        out["type"] = "object"
    return out


def _nullable(out: dict[str, Any]) -> None:
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]


# --- names ---------------------------------------------------------------------------


def snake_case(name: str) -> str:
    """`getPetById` -> `get_pet_by_id`; anything else becomes `_`; only [a-z0-9_] remain."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).lower()
    text = re.sub(r"_+", "_", text).strip("_")
    if text and text[0].isdigit():
        text = f"op_{text}"
    return text


def tool_names(operations: list[tuple[str, str, Any]]) -> dict[tuple[str, str], str]:
    """(METHOD, path) -> tool name, for (METHOD, path, operationId) triples.

    An approved action stores only its tool name, and the document is read again by every
    process, so a name must keep naming the same endpoint whatever the next revision adds or
    reorders. Names that collide once snake-cased and cut to MAX_NAME all take a suffix from a
    hash of their own METHOD and path, never a number from their order (as the MCP connector's
    `unique_names`): a new operation can make a name disappear (the write fails as unknown, for
    a person to see), never move to another endpoint."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for method, path, operation_id in operations:
        base = snake_case(operation_id or "") or snake_case(f"{method}_{path}")
        groups.setdefault(base[:MAX_NAME].rstrip("_") or "operation", []).append((method, path))
    names: dict[tuple[str, str], str] = {}
    for base, members in groups.items():
        if len(members) == 1:
            names[members[0]] = base
            continue
        for method, path in members:
            digest = hashlib.sha256(f"{method} {path}".encode()).hexdigest()
            width = 6
            while True:  # a longer digest in the (unlikely) case two agree this far
                suffix = "_" + digest[:width]
                candidate = base[: MAX_NAME - len(suffix)].rstrip("_") + suffix
                if candidate not in names.values() and candidate not in groups:
                    break
                width += 2
            names[(method, path)] = candidate
    return names


def _argument_name(name: str) -> str:
    """A property name every model vendor accepts: ^[a-zA-Z0-9_.-]{1,64}$."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:64]
    return text or "param"


# --- building ------------------------------------------------------------------------


def _where(path: str, method: str | None = None) -> str:
    return f"paths.{path}" + (f".{method}" if method else "")


def _security(value: Any, where: str) -> list[dict[str, list[str]]]:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise SpecError(f"{where}.security must be a list of objects")
    return [{str(k): list(v or []) for k, v in req.items()} for req in value]


def _json_type(content_type: str) -> bool:
    base = content_type.split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _pick_content(content: Any, where: str) -> tuple[str, Any] | None:
    """JSON first, then form, then anything textual or binary."""
    if not isinstance(content, dict) or not content:
        return None
    for ctype, media in content.items():
        if _json_type(ctype):
            return ctype, media
    for preferred in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if preferred in content:
            return preferred, content[preferred]
    ctype = next(iter(content))
    return ctype, content[ctype]


def _parameters(
    resolver: _Resolver, path: str, method: str, path_item: dict[str, Any], op: dict[str, Any]
) -> list[tuple[dict[str, Any], str]]:
    merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for level, raw_list in (("", path_item.get("parameters")), (method, op.get("parameters"))):
        where = f"{_where(path, level or None)}.parameters"
        if raw_list is None:
            continue
        if not isinstance(raw_list, list):
            raise SpecError(f"{where} must be a list")
        for i, raw in enumerate(raw_list):
            here = f"{where}[{i}]"
            param = resolver.deref(raw, here)
            if not isinstance(param, dict) or not param.get("name") or not param.get("in"):
                raise SpecError(f"{here}: a parameter needs 'name' and 'in'")
            if param["in"] not in PARAM_LOCATIONS:
                raise SpecError(
                    f"{here}: 'in' must be one of {', '.join(PARAM_LOCATIONS)}, not {param['in']!r}"
                )
            merged[(str(param["name"]), str(param["in"]))] = (param, here)
    return list(merged.values())


def _operation(
    resolver: _Resolver,
    path: str,
    method: str,
    path_item: dict[str, Any],
    op: dict[str, Any],
    name: str,
) -> OpenAPIOperation:
    where = _where(path, method)
    properties: dict[str, Any] = {}
    required: list[str] = []
    parameters: list[Parameter] = []
    used_args: set[str] = set()
    for param, here in _parameters(resolver, path, method, path_item, op):
        parameter = _parameter(resolver, param, here, used_args)
        if parameter is None:
            continue
        parameters.append(parameter)
        properties[parameter.argument] = parameter.schema
        if parameter.required:
            required.append(parameter.argument)
    for placeholder in re.findall(r"{([^}]+)}", path):
        if not any(p.location == "path" and p.name == placeholder for p in parameters):
            raise SpecError(f"{where}: path parameter {placeholder!r} is used in the path but not declared")
    body = _request_body(resolver, op["requestBody"], where, used_args) if "requestBody" in op else None
    if body is not None:
        properties[body.argument] = body.schema
        if body.required:
            required.append(body.argument)
    input_schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        input_schema["required"] = required
    operation_id = op.get("operationId")
    summary = " ".join(str(op.get("summary") or "").split())
    description = " ".join(str(op.get("description") or "").split())
    security = _security(op["security"], where) if "security" in op else None
    tags = op.get("tags") or []
    servers = (
        _servers(op["servers"], f"{where}.servers")
        if op.get("servers")
        else _servers(path_item.get("servers") or [], f"{_where(path)}.servers")
    )
    return OpenAPIOperation(
        name=name,
        operation_id=operation_id,
        method=method.upper(),
        path=path,
        summary=summary,
        description=description,
        parameters=tuple(parameters),
        body=body,
        input_schema=input_schema,
        security=security,
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        deprecated=bool(op.get("deprecated")),
        servers=tuple(servers),
    )


def _parameter(
    resolver: _Resolver, param: dict[str, Any], here: str, used_args: set[str]
) -> Parameter | None:
    """One declared parameter as an argument of the tool (None for headers OpenAPI ignores)."""
    name, location = str(param["name"]), str(param["in"])
    if location == "header" and name.lower() in ("accept", "content-type", "authorization"):
        return None  # OpenAPI says these are ignored as parameters
    content_type = None
    if "schema" in param:
        schema = resolver.top_schema(param["schema"], f"{here}.schema")
    else:
        picked = _pick_content(param.get("content"), here)
        schema = resolver.top_schema(picked[1].get("schema", {}), f"{here}.content") if picked else {}
        content_type = picked[0] if picked else None
    if param.get("description") and "description" not in schema:
        schema = {**schema, "description": " ".join(str(param["description"]).split())}
    if param.get("deprecated"):
        schema = {**schema, "deprecated": True}
    argument = _argument_name(name)
    if argument in used_args:
        argument = _argument_name(f"{location}_{name}")
    used_args.add(argument)
    style = str(param.get("style") or DEFAULT_STYLE[location])
    if style not in STYLES[location]:
        raise SpecError(
            f"{here}: style {style!r} is not allowed in {location} (allowed: {', '.join(STYLES[location])})"
        )
    return Parameter(
        name=name,
        location=location,
        argument=argument,
        required=location == "path" or bool(param.get("required")),
        schema=schema,
        style=style,
        explode=bool(param.get("explode", style == "form")),
        allow_reserved=bool(param.get("allowReserved")) and location == "query",
        content_type=content_type,
    )


def _request_body(resolver: _Resolver, node: Any, where: str, used_args: set[str]) -> RequestBody:
    """The operation's request body in the first media type we can send."""
    raw_body = resolver.deref(node, f"{where}.requestBody")
    if not isinstance(raw_body, dict):
        raise SpecError(f"{where}.requestBody must be an object")
    picked = _pick_content(raw_body.get("content"), f"{where}.requestBody")
    if picked is None:
        raise SpecError(f"{where}.requestBody has no content")
    ctype, media = picked
    if not isinstance(media, dict):
        raise SpecError(f"{where}.requestBody.content.{ctype} must be an object")
    if _json_type(ctype) or ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        schema = resolver.top_schema(media.get("schema", {}), f"{where}.requestBody.content.{ctype}.schema")
    else:
        schema = {"type": "string", "description": f"raw {ctype} content"}
    if raw_body.get("description") and "description" not in schema:
        schema = {**schema, "description": " ".join(str(raw_body["description"]).split())}
    raw_encoding = media.get("encoding")
    encoding: dict[str, Any] = raw_encoding if isinstance(raw_encoding, dict) else {}
    return RequestBody(
        ctype,
        schema,
        bool(raw_body.get("required")),
        "body" if "body" not in used_args else "request_body",
        {str(k): dict(v) for k, v in encoding.items() if isinstance(v, dict)},
    )


def _fitted(
    document: dict[str, Any],
    options: SchemaOptions,
    path: str,
    method: str,
    path_item: dict[str, Any],
    op: dict[str, Any],
    name: str,
    shared: _Shared,
) -> OpenAPIOperation:
    """The operation with its schema inlined as deep as options allow and its budget fits."""
    depths: list[int | None] = [options.inline_depth]
    if options.inline_depth is not None:
        depths += list(range(options.inline_depth - 1, -1, -1))
        if shared.built > MAX_DOCUMENT_SCHEMA_NODES:
            depths = [0]  # the document has had its share: every $ref summarised
    built: OpenAPIOperation | None = None
    shallower: OpenAPIOperation | None = None  # the one built a level deeper, over the token budget
    for depth in depths:
        resolver = _Resolver(document, replace(options, inline_depth=depth), shared)
        try:
            built = _operation(resolver, path, method, path_item, op, name)
        except _TooLarge:
            continue  # $refs fan out past what any tool could show: inline less deeply
        if shallower is not None and built.input_schema == shallower.input_schema:
            built = shallower  # no $ref left to summarise: inlining less deeply changes nothing
            break
        tokens = tool_tokens(built.name, built.description_text, built.input_schema)
        built = shallower = replace(built, tokens=tokens, inline_depth=depth)
        if options.max_tokens is None or tokens <= options.max_tokens:
            break
    if built is None:
        raise SpecError(
            f"{method.upper()} {path}: its schema expands past {MAX_SCHEMA_NODES:,} schema objects "
            "however shallowly its $refs are inlined"
        )
    return built


def _openapi_version(document: Any, name: str) -> str:
    """The document's OpenAPI 3.x version, or a SpecError saying what it is instead."""
    if not isinstance(document, dict):
        raise SpecError(f"{name} must be a JSON/YAML object, not {type(document).__name__}")
    if "swagger" in document and "openapi" not in document:
        swagger = str(document.get("swagger"))
        shown = swagger if re.fullmatch(r"\d+(\.\d+)*", swagger) else "2"  # a version, or nothing echoed
        raise SpecError(
            f"{name} is Swagger {shown}; only OpenAPI 3.x is supported "
            "(convert it, e.g. with swagger2openapi)"
        )
    version = document.get("openapi")
    if not isinstance(version, str) or not re.match(r"^3\.\d+(\.\d+)?", version):
        raise SpecError(
            f"{name} is not an OpenAPI 3.x document: its 'openapi' field is missing or not a 3.x "
            "version like '3.0.3'"
        )
    return version


def _security_schemes(resolver: _Resolver, components: Any, name: str) -> dict[str, dict[str, Any]]:
    if not isinstance(components, dict):
        raise SpecError(f"{name}: 'components' must be an object")
    schemes = components.get("securitySchemes") or {}
    if not isinstance(schemes, dict):
        raise SpecError(f"{name}: components.securitySchemes must be an object")
    found: dict[str, dict[str, Any]] = {}
    for scheme_name, raw in schemes.items():
        scheme = resolver.deref(raw, f"components.securitySchemes.{scheme_name}")
        if not isinstance(scheme, dict) or "type" not in scheme:
            raise SpecError(f"components.securitySchemes.{scheme_name} needs a 'type'")
        found[str(scheme_name)] = scheme
    return found


def _operations(resolver: _Resolver, paths: dict[Any, Any], options: SchemaOptions) -> list[OpenAPIOperation]:
    """Every operation under `paths`, in document order, each with a stable unique tool name."""
    found: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    for path, raw_item in paths.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise SpecError(f"paths: {path!r} must start with '/'")
        path_item = resolver.deref(raw_item, _where(path))
        if not isinstance(path_item, dict):
            raise SpecError(f"{_where(path)} must be an object")
        for method in HTTP_METHODS:
            if method not in path_item:
                continue
            op = path_item[method]
            if not isinstance(op, dict):
                raise SpecError(f"{_where(path, method)} must be an object")
            if op.get("operationId") is not None and not isinstance(op["operationId"], str):
                raise SpecError(f"{_where(path, method)}.operationId must be a string")
            found.append((path, method, path_item, op))
    names = tool_names([(m.upper(), p, op.get("operationId")) for p, m, _, op in found])
    return [
        _fitted(resolver.document, options, p, m, item, op, names[(m.upper(), p)], resolver.shared)
        for p, m, item, op in found
    ]


def _servers(raw: Any, where: str = "servers") -> list[str]:
    """Server URLs with their variables set to their defaults."""
    if not isinstance(raw, list):
        raise SpecError(f"{where} must be a list")
    servers = []
    for i, server in enumerate(raw):
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            raise SpecError(f"{where}[{i}] needs a 'url'")
        url = server["url"]
        for var, spec in (server.get("variables") or {}).items():
            default = spec.get("default") if isinstance(spec, dict) else None
            url = url.replace(f"{{{var}}}", str(default if default is not None else ""))
        servers.append(url)
    return servers


def build_spec(
    document: Any, *, source: str | None = None, options: SchemaOptions | None = None
) -> OpenAPISpec:
    """Check the document's shape and build its operations."""
    options = options or SchemaOptions()
    name = source or "the OpenAPI document"
    version = _openapi_version(document, name)
    info_node = document.get("info")
    info: dict[str, Any] = info_node if isinstance(info_node, dict) else {}
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise SpecError(f"{name}: 'paths' must be an object mapping paths to operations")
    resolver = _Resolver(document)
    security_schemes = _security_schemes(resolver, document.get("components") or {}, name)
    operations = _operations(resolver, paths, options)
    if not operations:
        raise SpecError(f"{name} has no operations under 'paths'")
    servers = _servers(document.get("servers") or [])
    return OpenAPISpec(
        document=document,
        title=str(info.get("title") or "API"),
        version=str(info.get("version") or ""),
        openapi=version,
        servers=servers,
        operations=operations,
        security_schemes=security_schemes,
        security=_security(document["security"], name) if "security" in document else [],
        source=source,
    )
