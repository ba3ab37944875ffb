"""OpenAPI 3 serialization of parameters and form bodies, as the specification defines it.

The expected strings are the specification's own "Style Examples" table (OpenAPI 3.1.1 and
3.0.4, Parameter Object, "Style Examples", for `color` = "blue" / ["blue","black","brown"] /
{"R":100,"G":200,"B":150}), which follows RFC 6570; and, for bodies, the Encoding Object with
the serializations that Stripe's and Twilio's documents ask for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.openapi import OpenAPIConnector, SpecError, import_spec
from connectors.openapi.serialize import cookie_parts, header_value, path_value, query_parts

FIXTURES = Path(__file__).parents[1] / "fixtures" / "openapi"
STRING, ARRAY, OBJECT = "blue", ["blue", "black", "brown"], {"R": 100, "G": 200, "B": 150}

# (style, explode, string, array, object), from the specification's table.
PATH_TABLE = [
    ("matrix", False, ";color=blue", ";color=blue,black,brown", ";color=R,100,G,200,B,150"),
    ("matrix", True, ";color=blue", ";color=blue;color=black;color=brown", ";R=100;G=200;B=150"),
    ("label", False, ".blue", ".blue,black,brown", ".R,100,G,200,B,150"),
    ("label", True, ".blue", ".blue.black.brown", ".R=100.G=200.B=150"),
    ("simple", False, "blue", "blue,black,brown", "R,100,G,200,B,150"),
    ("simple", True, "blue", "blue,black,brown", "R=100,G=200,B=150"),
]
QUERY_TABLE = [
    ("form", False, "color=blue", "color=blue,black,brown", "color=R,100,G,200,B,150"),
    ("form", True, "color=blue", "color=blue&color=black&color=brown", "R=100&G=200&B=150"),
    ("spaceDelimited", False, None, "color=blue%20black%20brown", "color=R%20100%20G%20200%20B%20150"),
    ("pipeDelimited", False, None, "color=blue|black|brown", "color=R|100|G|200|B|150"),
    ("deepObject", True, None, None, "color[R]=100&color[G]=200&color[B]=150"),
]


@pytest.mark.parametrize(("style", "explode", "string", "array", "obj"), PATH_TABLE)
def test_path_styles_match_the_specification_table(
    style: str, explode: bool, string: str, array: str, obj: str
) -> None:
    assert path_value("color", STRING, style, explode) == string
    assert path_value("color", ARRAY, style, explode) == array
    assert path_value("color", OBJECT, style, explode) == obj


@pytest.mark.parametrize(("style", "explode", "string", "array", "obj"), QUERY_TABLE)
def test_query_styles_match_the_specification_table(
    style: str, explode: bool, string: str | None, array: str | None, obj: str
) -> None:
    if string is not None:
        assert "&".join(query_parts("color", STRING, style, explode)) == string
    if array is not None:
        assert "&".join(query_parts("color", ARRAY, style, explode)) == array
    assert "&".join(query_parts("color", OBJECT, style, explode)) == obj


def test_header_and_cookie_styles() -> None:
    assert header_value(ARRAY) == "blue,black,brown"
    assert header_value(OBJECT, explode=False) == "R,100,G,200,B,150"
    assert header_value(OBJECT, explode=True) == "R=100,G=200,B=150"
    assert cookie_parts("color", ARRAY, explode=False) == ["color=blue,black,brown"]
    assert cookie_parts("color", ARRAY, explode=True) == ["color=blue", "color=black", "color=brown"]


def test_values_are_percent_encoded_and_reserved_only_when_allowed() -> None:
    assert path_value("p", "a/b c") == "a%2Fb%20c"
    assert query_parts("next", "https://x.test/a?b=c") == ["next=https%3A%2F%2Fx.test%2Fa%3Fb%3Dc"]
    # allowReserved keeps a URL's `:/?` readable, never the `=&+#[]` that would add or cut fields
    assert query_parts("next", "https://x.test/a?b=c", allow_reserved=True) == ["next=https://x.test/a?b%3Dc"]
    assert query_parts("q", ["a,b", "c"], "form", False) == ["q=a%2Cb,c"]  # a value's comma is data


def connector(doc: str | dict[str, Any], **config: Any) -> OpenAPIConnector:
    spec = import_spec(str(FIXTURES / doc) if isinstance(doc, str) else doc)
    client = httpx.AsyncClient(base_url="https://api.example.test")
    return OpenAPIConnector(client, {"spec": spec, **config})


def build(c: OpenAPIConnector, name: str, **arguments: Any) -> httpx.Request:
    return c.build_request(c.spec.operation(name), arguments)


def test_a_stripe_style_body_uses_its_encoding_objects() -> None:
    """Stripe's document gives `encoding: {metadata: {style: deepObject, explode: true}}`;
    the API reads `metadata[order]=7` and `expand[0]=charge`, never a comma-joined value."""
    c = connector("forms-and-styles.yaml")
    request = build(
        c, "post_refunds",
        body={"charge": "ch_1", "metadata": {"order": "7"}, "expand": ["charge", "payment_intent"]},
    )  # fmt: skip
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(request.content.decode()) == [
        ("charge", "ch_1"),
        ("metadata[order]", "7"),
        ("expand[0]", "charge"),
        ("expand[1]", "payment_intent"),
    ]


def test_a_twilio_style_array_is_repeated_keys() -> None:
    """Form bodies default to style form, explode true: one `key=value` per item."""
    c = connector("forms-and-styles.yaml")
    sid = "AC" + "0" * 32
    request = build(
        c, "create_call", AccountSid=sid,
        body={"To": "+15550001", "From": "+15550002", "StatusCallbackEvent": ["initiated", "ringing"]},
    )  # fmt: skip
    assert request.url.path == f"/2010-04-01/Accounts/{sid}/Calls.json"
    assert parse_qsl(request.content.decode()) == [
        ("To", "+15550001"),
        ("From", "+15550002"),
        ("StatusCallbackEvent", "initiated"),
        ("StatusCallbackEvent", "ringing"),
    ]
    assert "%2C" not in request.content.decode()


def test_every_parameter_location_is_serialized_by_its_style() -> None:
    c = connector("forms-and-styles.yaml")
    request = build(
        c,
        "get_book",
        shelf=[3, 4],
        book={"isbn": "978-0", "ed": "2"},
        **{"X-Request-Tags": {"team": "ops", "env": "prod"}},
        filter={"author": "Le Guin", "year": "1969"},
        ids=[1, 2, 3],
        words=["left", "hand"],
        redirect="https://x.test/a?b=c",
        plain="a&b",
        session=["s1", "s2"],
        where={"lat": 1.5, "long": 2},
    )
    raw = request.url.raw_path.decode()
    path, _, query = raw.partition("?")
    assert path == "/shelves/.3,4/books/;isbn=978-0;ed=2"
    assert query.split("&") == [
        "filter[author]=Le%20Guin",
        "filter[year]=1969",
        "ids=1|2|3",
        "words=left%20hand",
        "redirect=https://x.test/a?b%3Dc",  # allowReserved: `:/?` kept, `=` encoded
        "plain=a%26b",
        "where=" + "%7B%22lat%22%3A1.5%2C%22long%22%3A2%7D",
    ]
    assert json.loads(unquote(query.split("where=")[1])) == {"lat": 1.5, "long": 2}
    assert request.headers["X-Request-Tags"] == "team=ops,env=prod"
    assert request.headers["Cookie"] == "session=s1,s2"


def test_multipart_parts_carry_their_content_types() -> None:
    c = connector("forms-and-styles.yaml")
    request = build(c, "upload", body={"file": "PNGDATA", "meta": {"title": "x"}, "labels": ["a", "b"]})
    content = request.read().decode()
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert 'name="file"; filename="file"\r\nContent-Type: image/png\r\n\r\nPNGDATA' in content
    assert 'name="meta"\r\nContent-Type: application/json\r\n\r\n{"title": "x"}' in content
    assert content.count('name="labels"') == 2


def test_readme_parameter_style_document_serializes_as_declared() -> None:
    """@readme/oas-examples `3.0/json/parameters-style.json`: one operation per style."""
    c = connector("readme-oas-examples/parameters-style.json")
    args = {"primitive": "blue", "array": ARRAY, "object": OBJECT}
    expected = {
        "paths_matrix_exploded": "/anything/path/matrix/;primitive=blue/;array=blue;array=black;array=brown/;R=100;G=200;B=150",
        "paths_label_non_exploded": "/anything/path/label/.blue/.blue,black,brown/.R,100,G,200,B,150",
        "paths_simple_exploded": "/anything/path/simple/blue/blue,black,brown/R=100,G=200,B=150",
    }
    for name, path in expected.items():
        assert build(c, name, **args).url.raw_path.decode() == path
    query = build(c, "query_form_non_exploded", **args).url.query.decode()
    assert query == "primitive=blue&array=blue,black,brown&object=R,100,G,200,B,150"
    deep = build(c, "query_deep_object_non_exploded", object=OBJECT).url.query.decode()
    assert deep == "object[R]=100&object[G]=200&object[B]=150"


def test_a_style_not_allowed_in_its_location_is_a_spec_error() -> None:
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/x": {"get": {"parameters": [{"name": "a", "in": "header", "style": "form", "schema": {}}]}}
        },
    }
    with pytest.raises(SpecError, match=r"style 'form' is not allowed in header"):
        import_spec(doc)


def test_deep_object_cannot_take_a_scalar_silently_wrong() -> None:
    c = connector("forms-and-styles.yaml")
    with pytest.raises(ConnectorError, match="does not take"):
        build(c, "get_book", shelf=[1], book={"a": "b"}, nope=1)
