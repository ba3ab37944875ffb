"""OpenAPI 3 parameter and form-body serialization, as the specification defines it.

Parameter Object `style`/`explode`/`allowReserved` (OpenAPI 3.0.4 and 3.1.1, "Style Values"
and "Style Examples", built on RFC 6570 expansion) for path, query, header and cookie
parameters, and the Encoding Object for `application/x-www-form-urlencoded` and
`multipart/form-data` bodies. Where the specification leaves a shape undefined (an array
or a nested object under `deepObject`), the convention of the APIs that use it is kept:
`a[b][c]=v` and `a[0]=v`, as Stripe's own document and API do.

Everything here is pure: values in, strings or pairs out; `connector.py` puts them on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

# RFC 3986 reserved characters a value may keep when its parameter says allowReserved. The
# rest stay encoded whatever the document says (OpenAPI 3.1.1, `allowReserved`): `[ ] #` are
# not allowed in a query, and `& = +` (and `;`, which some servers split on) would add or split
# fields, so the request would carry something other than the approved arguments.
RESERVED = ":/?@!$'()*,"
# Where a style may be used, and the default style of each location.
STYLES = {
    "path": ("simple", "label", "matrix"),
    "query": ("form", "spaceDelimited", "pipeDelimited", "deepObject"),
    "header": ("simple",),
    "cookie": ("form",),
}
DEFAULT_STYLE = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}


class SerializationError(ValueError):
    """A value that the parameter's style cannot express (a list for deepObject, say)."""


def scalar(value: Any) -> str:
    """A primitive as text: booleans as true/false, null as empty, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e16 else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _enc(text: str, allow_reserved: bool = False, joined: bool = False) -> str:
    """Percent-encode for a URL component; delimiters the style adds are never passed here.
    `joined`: the style joins items with commas, so a value's comma is encoded as data."""
    if not allow_reserved:
        return quote(text, safe="")
    return quote(text, safe=RESERVED.replace(",", "") if joined else RESERVED)


def _pairs(value: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), scalar(v)) for k, v in value.items() if v is not None]


# --- path --------------------------------------------------------------------------


def path_value(name: str, value: Any, style: str = "simple", explode: bool = False) -> str:
    """The text that replaces `{name}` in a path template, percent-encoded."""
    e = _enc
    if style == "simple":
        if isinstance(value, list):
            return ",".join(e(scalar(v)) for v in value)
        if isinstance(value, Mapping):
            sep = "=" if explode else ","
            return ",".join(f"{e(k)}{sep}{e(v)}" for k, v in _pairs(value))
        return e(scalar(value))
    if style == "label":
        if isinstance(value, list):
            return "." + ("." if explode else ",").join(e(scalar(v)) for v in value)
        if isinstance(value, Mapping):
            if explode:
                return "".join(f".{e(k)}={e(v)}" for k, v in _pairs(value))
            return "." + ",".join(f"{e(k)},{e(v)}" for k, v in _pairs(value))
        return "." + e(scalar(value))
    if style == "matrix":
        n = e(name)
        if isinstance(value, list):
            if explode:
                return "".join(f";{n}={e(scalar(v))}" for v in value)
            return f";{n}=" + ",".join(e(scalar(v)) for v in value)
        if isinstance(value, Mapping):
            if explode:
                return "".join(f";{e(k)}={e(v)}" for k, v in _pairs(value))
            return f";{n}=" + ",".join(f"{e(k)},{e(v)}" for k, v in _pairs(value))
        text = scalar(value)
        return f";{n}" if text == "" else f";{n}={e(text)}"
    raise SerializationError(f"style {style!r} is not allowed for a path parameter")


# --- query -------------------------------------------------------------------------


def deep_pairs(name: str, value: Any) -> list[tuple[str, str]]:
    """`name[key][sub]=v` for nested objects, `name[0]=v` for arrays (Stripe's convention),
    the pairs already percent-encoded: each key is data, so a key holding `]=&#` stays inside
    its own brackets and cannot add a field or cut the query short."""
    out: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if v is not None:
                out += deep_pairs(f"{name}[{_enc(str(k))}]", v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += deep_pairs(f"{name}[{i}]", v)
    else:
        out.append((name, scalar(value)))
    return out


def _no_space(items: list[str]) -> list[str]:
    """spaceDelimited joins with a space: one inside an item would split it in two."""
    if any(" " in item for item in items):
        raise SerializationError("spaceDelimited cannot send a value that contains a space")
    return items


def query_parts(
    name: str, value: Any, style: str = "form", explode: bool = True, allow_reserved: bool = False
) -> list[str]:
    """`key=value` strings, already percent-encoded, to be joined with `&`. Keys are always
    fully encoded; `allow_reserved` keeps only the reserved characters in RESERVED."""
    e = lambda text: _enc(text, allow_reserved)  # noqa: E731
    j = lambda text: _enc(text, allow_reserved, joined=True)  # noqa: E731
    n = _enc(name)
    if style == "form":
        if isinstance(value, list):
            if explode:
                return [f"{n}={e(scalar(v))}" for v in value]
            return [f"{n}=" + ",".join(j(scalar(v)) for v in value)]
        if isinstance(value, Mapping):
            if explode:
                return [f"{_enc(k)}={e(v)}" for k, v in _pairs(value)]
            return [f"{n}=" + ",".join(f"{_enc(k)},{j(v)}" for k, v in _pairs(value))]
        return [f"{n}={e(scalar(value))}"]
    if style in ("spaceDelimited", "pipeDelimited"):
        sep = "%20" if style == "spaceDelimited" else "|"
        check = _no_space if style == "spaceDelimited" else list
        if isinstance(value, list):
            if explode:
                return [f"{n}={e(scalar(v))}" for v in value]
            return [f"{n}=" + sep.join(e(v) for v in check([scalar(v) for v in value]))]
        if isinstance(value, Mapping):
            flat = check([t for pair in _pairs(value) for t in pair])
            return [f"{n}=" + sep.join(_enc(t) if i % 2 == 0 else e(t) for i, t in enumerate(flat))]
        return [f"{n}={e(scalar(value))}"]
    if style == "deepObject":
        if not isinstance(value, (Mapping, list)):
            return [f"{n}={e(scalar(value))}"]
        return [f"{k}={e(v)}" for k, v in deep_pairs(n, value)]
    raise SerializationError(f"style {style!r} is not allowed for a query parameter")


# --- header and cookie -------------------------------------------------------------


def header_value(value: Any, explode: bool = False) -> str:
    """`simple` style, not percent-encoded (a header is not a URL). An item, key or value holding
    the style's separators is refused: sent, it would arrive as more items than were approved."""
    if isinstance(value, list):
        return ",".join(_header_part(scalar(v), ",") for v in value)
    if isinstance(value, Mapping):
        sep = "=" if explode else ","
        return ",".join(f"{_header_part(k, ',=')}{sep}{_header_part(v, ',=')}" for k, v in _pairs(value))
    return scalar(value)


def _header_part(text: str, separators: str) -> str:
    if found := [c for c in separators if c in text]:
        raise SerializationError(
            f"{text!r} holds {' and '.join(repr(c) for c in found)}, which separates a header's items"
        )
    return text


def cookie_parts(name: str, value: Any, explode: bool = True) -> list[str]:
    """`form` style cookie pairs (RFC 6265 `name=value`), values percent-encoded."""
    if isinstance(value, list):
        if explode:
            return [f"{name}={_enc(scalar(v))}" for v in value]
        return [f"{name}=" + ",".join(_enc(scalar(v)) for v in value)]
    if isinstance(value, Mapping):
        if explode:
            return [f"{_enc(k)}={_enc(v)}" for k, v in _pairs(value)]
        return [f"{name}=" + ",".join(f"{_enc(k)},{_enc(v)}" for k, v in _pairs(value))]
    return [f"{name}={_enc(scalar(value))}"]


# --- request bodies ----------------------------------------------------------------


def form_body(body: Mapping[str, Any], encoding: Mapping[str, Any] | None = None) -> str:
    """An `application/x-www-form-urlencoded` body per the Encoding Object.

    A property whose encoding gives `style`, `explode` or `allowReserved` is serialized like
    a query parameter of that style (default `form`, exploded). A property with no such
    encoding keeps the defaults: primitives as text, arrays as repeated keys, objects as
    their `contentType` (default `application/json`)."""
    parts: list[str] = []
    for name, value in body.items():
        if value is None:
            continue
        enc = (encoding or {}).get(name) or {}
        styled = any(k in enc for k in ("style", "explode", "allowReserved"))
        if isinstance(value, Mapping) and not styled:
            parts.append(f"{_form(name)}={_form(json.dumps(value, separators=(',', ':')))}")
            continue
        style = str(enc.get("style") or "form")
        explode = bool(enc.get("explode", style == "form"))
        for part in query_parts(name, value, style, explode, bool(enc.get("allowReserved"))):
            parts.append(part.replace("%20", "+"))
    return "&".join(parts)


def _form(text: str) -> str:
    return quote(text, safe="").replace("%20", "+")


def multipart_fields(
    body: Mapping[str, Any],
    encoding: Mapping[str, Any] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> list[tuple[str, tuple[str | None, bytes, str]]]:
    """`multipart/form-data` parts for httpx's `files=`: one part per property (arrays: one
    part per item), each with its Encoding Object `contentType` or the default for its type
    (objects `application/json`, binary strings `application/octet-stream`, others `text/plain`)."""
    properties = (schema or {}).get("properties") or {}
    out: list[tuple[str, tuple[str | None, bytes, str]]] = []
    for name, value in body.items():
        if value is None:
            continue
        enc = (encoding or {}).get(name) or {}
        prop = properties.get(name) or {}
        items = value if isinstance(value, list) else [value]
        item_schema = prop.get("items") if isinstance(value, list) else prop
        binary = isinstance(item_schema, Mapping) and item_schema.get("format") in ("binary", "byte")
        for item in items:
            if isinstance(item, Mapping | list):
                ctype = str(enc.get("contentType") or "application/json")
                data = json.dumps(item, ensure_ascii=False).encode()
            else:
                ctype = str(
                    enc.get("contentType") or ("application/octet-stream" if binary else "text/plain")
                )
                data = item if isinstance(item, bytes) else scalar(item).encode()
            out.append((name, (name if binary else None, data, ctype.split(",")[0].strip())))
    return out
