"""A ticket whose help desk connection is stored but cannot be built (here: its credentials were
sealed under another SWITCHBOARD_SECRET_KEY, as when `serve` is started with a new key beside a
demo's data) must not be reported as handled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.helpdesk.simulator import create_app
from tests.support.loopback import LoopbackServer
from tests.test_cli import env, sb

__all__ = ["env"]


def test_a_ticket_for_a_help_desk_that_cannot_be_built_does_not_end_succeeded(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: "A connection that is stored but cannot be built says why when it is tested (...
    credentials stored under another SWITCHBOARD_SECRET_KEY ...)", and "Only a cause a person must
    act on fails a run". A ticket posted while the help desk connection cannot be built fails,
    saying why the connector cannot be built, and `triage` reports it (it is not dropped green)."""
    with LoopbackServer(create_app()) as helpdesk:
        code, out = sb(
            "connections", "add", "helpdesk", "--kind", "helpdesk", "--base-url", helpdesk.url,
            "--auth", "zendesk_token", "--credential", "email=bot@example.com", "--credential", "token=t0k",
        )  # fmt: skip
        assert code == 0, out
        assert sb("connections", "test", "helpdesk")[1].strip().endswith("helpdesk: ok")
        # the operator restarts with another key than the one the credentials were sealed with
        monkeypatch.setenv("SWITCHBOARD_SECRET_KEY", "a-different-secret-key-0123456789")
        _, tested = sb("connections", "test", "helpdesk")
        assert "cannot build" in tested, tested  # the test does say why
        tickets = env / "tickets.jsonl"
        tickets.write_text(
            json.dumps(
                {
                    "subject": "Where is my parcel?",
                    "body": "Order NW-47761 has not arrived and tracking shows nothing.",
                    "requester_email": "bo@example.com",
                }
            )
            + "\n"
        )
        _, triaged = sb("triage", str(tickets))
    code, listed = sb("runs", "list", "--json")
    assert code == 0, listed
    [run] = json.loads(listed[listed.index("[") :])
    assert run["status"] != "succeeded", (
        "a ticket whose help desk cannot be built ended green, with nothing proposed:\n" + triaged
    )
    assert "cannot build" in triaged or "SWITCHBOARD_SECRET_KEY" in triaged, triaged
