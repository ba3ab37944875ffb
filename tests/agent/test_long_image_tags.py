"""A remote image is never trusted, however long its alt text or its tag's other attributes.

A remote image loads on open, telling its host who read the message: no host, not even the
company's own, is trusted for one (outgoing.Trust.trusts). The image pattern is bounded (alt
text and other attributes to 500 characters); past the bound the source is still read as an
image (looked for backwards from the link), never as a link on a trusted domain, and
strip_untrusted removes it.
"""

from __future__ import annotations

import pytest

from app.agent.outgoing import Trust, strip_untrusted, untrusted_spans

SRC = "https://help.northwind.example/t.gif?who=dana%40example.com"
FORMS = {
    "markdown-short": f"Thanks! ![logo]({SRC})",
    "markdown-long-alt": "Thanks! ![" + "logo " * 101 + f"]({SRC})",
    "html-long-attribute": 'Thanks! <img data-x="' + "a" * 520 + f'" src="{SRC}">',
}


@pytest.mark.parametrize("name", list(FORMS))
def test_a_remote_image_is_untrusted_even_on_a_trusted_host(name: str) -> None:
    trust = Trust.of({}, trusted_domains=["northwind.example"])
    kinds = [s.kind for s in untrusted_spans(FORMS[name], trust)]
    assert "image" in kinds, f"{name}: the remote image was read as {kinds or 'nothing untrusted'}"
    stripped, _ = strip_untrusted(FORMS[name], trust)
    assert "t.gif" not in stripped, f"{name}: the image stays in the reply: {stripped[-120:]!r}"
