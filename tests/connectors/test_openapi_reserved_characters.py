"""A request carries exactly the approved arguments, whatever characters they hold.

What a person approves is the tool call's arguments; the request is built from them, so no
key or value may add a field, split one, or cut the query short. Object keys (deepObject,
exploded form, cookies) are always fully percent-encoded (OpenAPI 3.1.1 "Style Examples":
`color%5BR%5D=100`); under `allowReserved` a value keeps `:/?@!$'()*,` readable but `[ ] #` and
`& = +` stay encoded (OpenAPI 3.1.1, `allowReserved`), and `,` too where the style joins with it.
A spaceDelimited item holding a space cannot be sent as one item, so it is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from connectors.openapi import OpenAPIConnector, import_spec
from connectors.openapi.serialize import SerializationError, cookie_parts, query_parts

FIXTURES = Path(__file__).parents[1] / "fixtures" / "openapi"


def _connector() -> OpenAPIConnector:
    spec = import_spec(str(FIXTURES / "forms-and-styles.yaml"))
    return OpenAPIConnector(httpx.AsyncClient(base_url="https://api.example.test"), {"spec": spec})


def _build(c: OpenAPIConnector, name: str, **arguments: Any) -> httpx.Request:
    return c.build_request(c.spec.operation(name), arguments)


def test_a_deep_object_key_stays_one_field_of_its_object() -> None:
    """Stripe's document: `encoding: {metadata: {style: deepObject, explode: true}}`. The approved
    arguments refund charge ch_1; the body carries that charge only, and the key whole."""
    c = _connector()
    key = "order]=7&charge=ch_someone_else&note["
    request = _build(c, "post_refunds", body={"charge": "ch_1", "metadata": {key: "x"}})
    fields = parse_qsl(request.content.decode(), keep_blank_values=True)
    charges = [v for k, v in fields if k == "charge"]
    assert charges == ["ch_1"], f"form body {request.content.decode()!r} sends charges {charges}"
    # the key reaches the server whole, as one metadata entry
    assert [k for k, _ in fields if k.startswith("metadata[")] == [f"metadata[{key}]"]


def test_a_deep_object_key_with_a_hash_is_encoded_and_later_parameters_follow() -> None:
    c = _connector()
    request = _build(c, "get_book", shelf=[1], book={"isbn": "1"}, filter={"a#b": "x"}, ids=[1, 2])
    assert request.url.fragment == ""
    query = parse_qsl(request.url.query.decode(), keep_blank_values=True)
    assert query == [("filter[a#b]", "x"), ("ids", "1|2")]


def test_an_allow_reserved_value_keeps_its_url_readable_and_adds_no_parameter() -> None:
    """allowReserved keeps `:/?` for URLs in values; `&`, `=`, `+` and `#` are still encoded."""
    c = _connector()
    value = "https://x.test/a?b=c&plain=evil+1#top"
    request = _build(c, "get_book", shelf=[1], book={"isbn": "1"}, redirect=value)
    assert request.url.query.decode() == "redirect=https://x.test/a?b%3Dc%26plain%3Devil%2B1%23top"
    assert parse_qsl(request.url.query.decode()) == [("redirect", value)]


def test_allow_reserved_encodes_a_comma_where_the_style_joins_with_commas() -> None:
    assert query_parts("q", ["a,b", "c/d"], "form", False, allow_reserved=True) == ["q=a%2Cb,c/d"]
    assert query_parts("q", "a,b", "form", True, allow_reserved=True) == ["q=a,b"]


def test_a_space_delimited_item_with_a_space_is_refused() -> None:
    assert query_parts("w", ["left", "hand"], "spaceDelimited", False) == ["w=left%20hand"]
    with pytest.raises(SerializationError, match="contains a space"):
        query_parts("w", ["left hand", "x"], "spaceDelimited", False)


def test_an_exploded_cookie_key_cannot_add_a_cookie() -> None:
    assert cookie_parts("c", {"a; session=evil": "1"}, explode=True) == ["a%3B%20session%3Devil=1"]
