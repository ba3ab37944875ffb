"""Text that no route may receive: NUL characters, lone surrogates, bytes that are not UTF-8.

PostgreSQL refuses NUL in text and `\\u0000` in JSON it has to unescape, and a lone
surrogate cannot be encoded at all; stored, either breaks every page that reads
the row later. So they are refused at the edge with the name of the field that
carried them, before any route or database sees them.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

_BAD = re.compile("[\x00\ud800-\udfff]")


# Unicode's format characters (category Cf: bidi overrides and isolates, zero-width spaces and
# joiners, the soft hyphen, tag characters) and what IDNA ignores (variation selectors, the
# combining grapheme joiner). Each draws nothing or reorders what follows, so an
# IBAN or an address written with them paints as another one (the web shows them as markers,
# the gate flags a write that carries them).
INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufe00-\ufe0f\ufeff\ufff9-\ufffb\U0001bca0-\U0001bca3\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)


class BadText(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def digits(value: str) -> bool:
    """Whether `value` is ASCII digits 0-9 only: what int() reads as the number it shows.
    str.isdigit() also takes '²' (which int() refuses) and other scripts' digits ('١٢')."""
    return value.isascii() and value.isdigit()


def problem(value: str) -> str | None:
    """Why `value` cannot be accepted, or None."""
    found = _BAD.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (U+0000), which is not allowed in text"
    return f"contains an unpaired surrogate (U+{ord(found.group()):04X}), which is not valid Unicode"


# How deep a request body's JSON may nest: no request nests near it, and past some hundreds of
# levels reading and walking it runs out of stack (a 500 instead of an answer).
MAX_JSON_DEPTH = 128
TOO_DEEP = f"nests its values more than {MAX_JSON_DEPTH} levels deep"


def check_value(value: Any, field: str, depth: int = 0) -> None:
    """Walk decoded JSON; raise BadText naming the first field (a dotted path) with invalid text,
    or nested past MAX_JSON_DEPTH."""
    if isinstance(value, str):
        if (why := problem(value)) is not None:
            raise BadText(field, why)
        return
    if not isinstance(value, dict | list):
        return
    if depth >= MAX_JSON_DEPTH:
        raise BadText("body", TOO_DEEP)
    if isinstance(value, dict):
        for k, v in value.items():
            name = f"{field}.{k}" if field else str(k)
            if (why := problem(str(k))) is not None:
                raise BadText(name, f"the key {why}")
            check_value(v, name, depth + 1)
    else:
        for i, v in enumerate(value):
            check_value(v, f"{field}.{i}" if field else str(i), depth + 1)


def check_query(raw: bytes, where: str = "query parameter") -> None:
    """A query string or form body: each name and value must be UTF-8 text without NUL."""
    if not raw:
        return
    try:
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadText(where, "is not valid UTF-8 once percent-decoded") from None
    for name, value in pairs:
        if (why := problem(name)) is not None:
            raise BadText(name, f"the {where} name {why}")
        if (why := problem(value)) is not None:
            raise BadText(name, why)


def check_body(body: bytes, content_type: str) -> None:
    """A request body by its type: JSON is walked, forms parsed; anything else must hold no NUL byte."""
    if not body:
        return
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        check_query(body, "form field")
        return
    if kind.startswith("multipart/"):
        if b"\x00" in body:
            raise BadText("body", "contains a NUL byte, which is not allowed")
        return
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise BadText("body", "is not valid UTF-8") from None
    except RecursionError:
        raise BadText("body", TOO_DEEP) from None
    except ValueError:
        if b"\x00" in body:
            raise BadText("body", "contains a NUL byte, which is not allowed") from None
        return  # not JSON: the route that expects JSON says so
    check_value(data, "")


def clean(value: Any) -> Any:
    """A copy of decoded JSON with NUL removed and lone surrogates replaced (for text from systems)."""
    if isinstance(value, str):
        if _BAD.search(value) is None:
            return value
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def stored_json(value: Any, default: Any = None) -> str:
    """JSON for the database without NUL or lone surrogates: text from connected systems may carry
    them, and PostgreSQL cannot read them back (every page that reads the row would break).

    The dump is ASCII, so a NUL or a surrogate can only appear as a `\\u0000` or `\\udXXX` escape:
    the walk that removes them runs only for text that shows one (most rows never do)."""
    text = json.dumps(value, default=default)
    if "\\u0000" in text or "\\ud" in text:
        return json.dumps(clean(value), default=default)
    return text
