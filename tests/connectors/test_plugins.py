"""A connector kind from another distribution: found by its entry point, no edit to Switchboard.

The test writes a tiny installed distribution (a package plus its .dist-info
with entry_points.txt) into a temporary folder on sys.path, the way pip would
lay it out, and checks that the new kind can be configured, that its
operations reach the catalogue with their declared effects, and that the
policy rates its writes from those declarations alone.
"""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pytest

from app.agent.policy import Policy, merge_facts, new_facts, observe
from app.services.connections import ConnectorPool, add_connection
from app.store.crypto import SecretBox
from app.store.db import Database
from connectors.registry import CONNECTOR_TYPES, connector_type

PACKAGE = '''
from typing import Any

from connectors.base import Connector, Facts, Money, objects, operation


class TreasuryConnector(Connector):
    kind = "treasury"
    description = "A bank's treasury API (test plug-in)."

    @classmethod
    def facts(cls, data: Any) -> Facts:
        payees = {
            str(n["payee_ref"]): {"name": n["display_name"], "iban": n["account"]}
            for n in objects(data)
            if "payee_ref" in n
        }
        return {"vendors": payees}

    @operation(effect="read")
    async def list_payees(self) -> list[dict[str, Any]]:
        """The payees on file."""
        return [{"payee_ref": "P-1", "display_name": "Contoso", "account": "DE89 3704 0044 0532 0130 00"}]

    @operation(effect="read")
    async def get_balance(self, account: str) -> dict[str, Any]:
        """The balance of one of our accounts."""
        return {"account": account, "balance": 1}

    @operation(effect="write", idempotency="key", money=Money(amount="amount_cents", currency="currency"))
    async def send_wire(
        self,
        account: str,
        amount_cents: int,
        currency: str,
        iban: str = "",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Wire money out of one of our accounts."""
        return {"sent": amount_cents}

    @operation(effect="write", idempotency="check", reversible=True)
    async def label_account(self, account: str, label: str) -> dict[str, Any]:
        """Put a label on an account (can be removed)."""
        return {"labelled": label}
'''


@pytest.fixture
def treasury_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "treasury_plugin").mkdir(parents=True)
    (site / "treasury_plugin" / "__init__.py").write_text(textwrap.dedent(PACKAGE), encoding="utf-8")
    info = site / "treasury_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: treasury-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[switchboard.connectors]\ntreasury = treasury_plugin:TreasuryConnector\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


def test_an_unknown_kind_is_refused_with_the_installed_kinds_named() -> None:
    with pytest.raises(KeyError, match=r"unknown connector kind 'treasury'; known: chat, crm, erp, helpdesk"):
        connector_type("treasury")


@pytest.mark.usefixtures("treasury_installed")
async def test_a_plugin_kind_reaches_the_catalogue_and_the_policy_reads_its_declarations(
    db: Database, tmp_path: Path
) -> None:
    assert "treasury" in CONNECTOR_TYPES and connector_type("treasury").kind == "treasury"
    db.upgrade()
    box = SecretBox("a-test-key-of-sixteen-chars")
    add_connection(db, box, name="bank", kind="treasury", base_url="https://treasury.example", owner="ops")
    pool = ConnectorPool(db, box)
    try:
        catalogue = await pool.load()
        wire = catalogue.get("bank__send_wire")
        label = catalogue.get("bank__label_account")
        assert catalogue.get("bank__get_balance").effect == "read"
        assert wire.is_write and wire.does.money is not None and not wire.does.reversible
        assert label.is_write and label.does.reversible and label.does.money is None

        policy = Policy(two_approvers_above=100_000)
        big = policy.decide(wire, {"account": "A1", "amount_cents": 250_000, "currency": "EUR"}, new_facts())
        assert big.needs_approval and big.risk == "medium" and big.required_approvals == 2
        assert "moves money, which cannot be undone" in big.reasons
        small = policy.decide(label, {"account": "A1", "label": "payroll"}, new_facts())
        assert small.needs_approval and small.risk == "low" and small.required_approvals == 1

        # Its answers become the gate's facts through its own `facts`: a wire to a payee it
        # listed is plain; one to an account it never listed is high risk.
        payees = catalogue.get("bank__list_payees")
        facts = new_facts()
        merge_facts(facts, observe(await payees.invoke({}, None), payees.facts))
        wire_to = {"account": "A1", "amount_cents": 500, "currency": "EUR"}
        known = policy.decide(wire, {**wire_to, "iban": "DE89370400440532013000"}, facts)
        assert known.risk == "medium" and not any("payee account" in r for r in known.reasons)
        unknown = policy.decide(wire, {**wire_to, "iban": "GB29NWBK60161331926819"}, facts)
        assert unknown.risk == "high" and any("not on any vendor record" in r for r in unknown.reasons)
    finally:
        await pool.aclose()
