"""Addresses are looked for around each `@` only: the same addresses as the pattern finds over the
whole text, without its backtracking from every position of a long word that has none (a pasted
screenshot in base64 made one write decision take seconds; see the closing note's figures)."""

from __future__ import annotations

import base64

from app.agent import outgoing


def test_the_addresses_found_around_each_at_are_those_of_the_whole_text() -> None:
    image = base64.b64encode(bytes(range(256)) * 8).decode()
    text = (
        f"Photo: data:image/png;base64,{image} write to Ann.Lee+refund@example.com or "
        f'"quoted"@help.example.org, not @nobody, x@y, a@@b.example, '
        f"{'a' * 70}@long-local.example and bob@example.com."
    )
    whole = [(m.span(), m.group()) for m in outgoing.EMAIL.finditer(text)]
    around = [(m.span(), m.group()) for m in outgoing.emails_in(text)]
    long_local = [g for _, g in whole if g.endswith("@long-local.example")]
    # a local part longer than RFC 5321's 64 characters is read from its last 65
    assert [g for _, g in around if g.endswith("@long-local.example")] == [long_local[0][-84:]]
    assert [x for x in whole if not x[1].endswith("@long-local.example")] == [
        x for x in around if not x[1].endswith("@long-local.example")
    ]
    assert "Ann.Lee+refund@example.com" in [g for _, g in around]
