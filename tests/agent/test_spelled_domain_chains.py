"""A spelled-out domain is read whole, as the customer would type it.

"northwind dot com dot au" is northwind.com.au, someone else's, not the company's northwind.com:
a country's two letters after a common top-level domain belong to the chain. Braces and angle
brackets around "dot" ("northwind-refunds{dot}com", "<dot>") spell a domain as brackets do.
Each is untrusted, its value the whole domain.
"""

from __future__ import annotations

import pytest

from app.agent.outgoing import Trust, untrusted_spans

CASES = {
    "trusted-prefix-au": ("Claim it at northwind dot com dot au today.", "northwind.com.au"),
    "trusted-prefix-ru": ("Claim it at northwind dot com dot ru today.", "northwind.com.ru"),
    "braces": ("Claim it at northwind-refunds{dot}com today.", "northwind-refunds.com"),
    "angles": ("Claim it at northwind-refunds<dot>com today.", "northwind-refunds.com"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_spelled_domain_is_read_whole_and_untrusted(name: str) -> None:
    text, domain = CASES[name]
    trust = Trust.of({}, trusted_domains=["northwind.com"])
    found = [(s.kind, s.value) for s in untrusted_spans(text, trust)]
    # "Claim it at northwind dot com …" reads as a spelled address too ("it at …"): either way
    # the whole domain is what is untrusted
    assert any(v == domain or v.endswith("@" + domain) for _, v in found), (
        f"{text!r}: untrusted spans {found}"
    )
