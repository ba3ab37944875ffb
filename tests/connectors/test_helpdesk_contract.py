"""The help-desk connector against its Zendesk simulator over real loopback HTTP.

Every operation is exercised; writes are read back the way Zendesk shows them
(comments.json, audits.json, tickets/{id}.json) with a plain HTTP client.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.base import ConnectorError, first_attempt
from connectors.helpdesk.client import HelpdeskConnector, article_links, html_to_text
from connectors.helpdesk.seed import API_USER_EMAIL, TICKETS
from connectors.http import build_client
from tests.connectors.conftest import FakeSleep, Sim, retry_policy

# --- reads -----------------------------------------------------------------------------


async def test_check_names_the_api_user(helpdesk: HelpdeskConnector) -> None:
    result = await helpdesk.check()
    assert result["ok"] is True
    assert result["user"]["email"] == API_USER_EMAIL
    assert result["user"]["role"] == "agent"


async def test_get_ticket_in_zendesk_shape(helpdesk: HelpdeskConnector, helpdesk_sim: Sim) -> None:
    ticket = await helpdesk.get_ticket(4)
    assert ticket["id"] == 4
    assert ticket["subject"] == TICKETS[3].subject
    assert ticket["description"] == TICKETS[3].body
    assert ticket["priority"] == "high"
    assert ticket["status"] == "new"
    assert ticket["tags"] == ["billing", "double_charge"]
    assert ticket["url"] == f"{helpdesk_sim.url}/api/v2/tickets/4.json"
    for field in ("requester_id", "assignee_id", "created_at", "updated_at"):
        assert field in ticket


async def test_get_missing_ticket_is_a_clear_error(helpdesk: HelpdeskConnector) -> None:
    with pytest.raises(ConnectorError) as err:
        await helpdesk.get_ticket(9999)
    assert err.value.status == 404
    assert not err.value.retryable
    assert "RecordNotFound: Not found" in str(err.value)
    assert "ticket 9999" in str(err.value)


async def test_list_comments_oldest_first_with_private_notes(helpdesk: HelpdeskConnector) -> None:
    comments = await helpdesk.list_comments(5)
    assert [c["public"] for c in comments] == [True, False]
    assert comments[0]["body"] == TICKETS[4].body
    assert "ENG-2231" in comments[1]["body"]
    assert all(c["type"] == "Comment" and c["html_body"].startswith("<div") for c in comments)


async def test_list_comments_follows_pagination(helpdesk: HelpdeskConnector, helpdesk_sim: Sim) -> None:
    agent = helpdesk_sim.state.user_by_email("marco.rossi@northwind.example")
    assert agent is not None
    for i in range(130):
        helpdesk_sim.state.update_ticket(
            2, {"comment": {"body": f"note {i}", "public": False}}, author_id=agent["id"]
        )
    first_page = helpdesk_sim.get("/api/v2/tickets/2/comments.json")
    assert len(first_page["comments"]) == 100 and first_page["next_page"].startswith(helpdesk_sim.url)
    comments = await helpdesk.list_comments(2)
    assert len(comments) == 131
    assert comments[-1]["body"] == "note 129"


async def test_search_tickets(helpdesk: HelpdeskConnector) -> None:
    refunds = {t["id"] for t in await helpdesk.search_tickets("refund")}
    assert {1, 7} <= refunds
    assert 2 not in refunds
    new = await helpdesk.search_tickets("status:new")
    assert new and all(t["status"] == "new" for t in new)
    urgent_or_high = await helpdesk.search_tickets("priority>normal tags:billing")
    assert [t["id"] for t in urgent_or_high] == [4]
    # the tool searches tickets only, whatever type the model asks for
    assert all(t["result_type"] == "ticket" for t in await helpdesk.search_tickets("type:user dana"))
    assert await helpdesk.search_tickets("zebra crossing") == []


async def test_find_user_exact_email_only(helpdesk: HelpdeskConnector) -> None:
    user = await helpdesk.find_user("Dana.Whitfield@example.com")
    assert user is not None
    assert user["name"] == "Dana Whitfield"
    assert user["role"] == "end-user"
    assert await helpdesk.find_user("dana") is None
    assert await helpdesk.find_user("nobody@example.com") is None


async def test_search_articles_plain_text_with_links(helpdesk: HelpdeskConnector, helpdesk_sim: Sim) -> None:
    articles = await helpdesk.search_articles("reset my password")
    assert articles[0]["title"] == "How to reset your password"
    assert set(articles[0]) == {"id", "title", "body", "html_url", "links"}
    assert articles[0]["links"] == ["https://northwind.example/login"]  # its author's <a href>
    assert "<" not in articles[0]["body"] and "60 minutes" in articles[0]["body"]
    assert articles[0]["html_url"].startswith(f"{helpdesk_sim.url}/hc/en-us/articles/{articles[0]['id']}-")
    page = helpdesk_sim.http.get(articles[0]["html_url"])
    assert page.status_code == 200 and "Forgot password?" in page.text
    assert len(await helpdesk.search_articles("refund", limit=1)) == 1
    assert len(await helpdesk.search_articles("refund charge billing", limit=5)) == 5


def test_an_articles_links_are_its_hrefs_and_the_gates_facts() -> None:
    """Relative links are on the article's Help Center; URLs in plain text are not links the
    author made; the facts are the links of article results only."""
    page = "https://help.northwind.example/hc/en-us/articles/7-reset"
    markup = (
        '<p><a href="/hc/en-us/articles/8-locked">Locked?</a> <a href="https://northwind.example/login">'
        'sign in</a> <a href="mailto:help@northwind.example">mail</a> or https://evil.example/x</p>'
        '<script><a href="https://script.example/">x</a></script>'
    )
    links = article_links(markup, page)
    assert links == [
        "https://help.northwind.example/hc/en-us/articles/8-locked",
        "https://northwind.example/login",
    ]
    article = {"id": 7, "title": "Reset", "body": "…", "html_url": page, "links": links}
    assert HelpdeskConnector.facts([article]) == {"links": links}
    assert HelpdeskConnector.facts({"ticket": {"id": 1, "links": ["https://evil.example/"]}}) == {}


def test_html_to_text() -> None:
    markup = (
        "<h2>Title</h2><p>One &amp; <strong>two</strong></p><ul><li>a</li><li>b</li></ul>"
        "<table><tr><th>x</th><th>y</th></tr><tr><td>1</td><td>2</td></tr></table><script>bad()</script>"
    )
    assert html_to_text(markup) == "Title\n\nOne & two\n\n- a\n- b\n\nx | y\n1 | 2"


# --- writes ----------------------------------------------------------------------------


async def test_add_comment_reads_back_in_comments_json(
    helpdesk: HelpdeskConnector, helpdesk_sim: Sim
) -> None:
    result = await helpdesk.add_comment(4, "We've refunded the duplicate $9.99.", idempotency_key="act-1")
    assert result["ticket_id"] == 4 and result["deduplicated"] is False
    comments = helpdesk_sim.get("/api/v2/tickets/4/comments.json")["comments"]
    last = comments[-1]
    assert last["id"] == result["comment_id"]
    assert last["audit_id"] == result["audit_id"]
    assert last["body"] == "We've refunded the duplicate $9.99."
    assert last["public"] is True
    me = helpdesk_sim.state.user_by_email(API_USER_EMAIL)
    assert me is not None and last["author_id"] == me["id"]
    audits = helpdesk_sim.get("/api/v2/tickets/4/audits.json")["audits"]
    assert audits[-1]["metadata"]["custom"] == {"switchboard_action_id": "act-1"}
    # an agent replying to a new ticket opens it, as in Zendesk
    assert helpdesk_sim.get("/api/v2/tickets/4.json")["ticket"]["status"] == "open"


async def test_add_comment_twice_with_the_same_key_writes_once(
    helpdesk: HelpdeskConnector, helpdesk_sim: Sim
) -> None:
    before = len(helpdesk_sim.get("/api/v2/tickets/1/comments.json")["comments"])
    first = await helpdesk.add_comment(1, "Refund issued.", public=False, idempotency_key="act-7")
    second = await helpdesk.add_comment(1, "Refund issued.", public=False, idempotency_key="act-7")
    comments = helpdesk_sim.get("/api/v2/tickets/1/comments.json")["comments"]
    assert len(comments) == before + 1
    assert comments[-1]["public"] is False
    assert second["deduplicated"] is True
    assert (second["comment_id"], second["audit_id"]) == (first["comment_id"], first["audit_id"])


async def test_a_first_attempt_skips_the_lookup_and_a_retry_still_finds_it(
    helpdesk: HelpdeskConnector, helpdesk_sim: Sim
) -> None:
    sent: list[str] = []

    async def note(request: httpx.Request) -> None:
        sent.append(f"{request.method} /api/{request.url.path.split('/api/', 1)[1]}")

    helpdesk.client.event_hooks["request"].append(note)
    with first_attempt():  # the run's action was never executing: no earlier write can exist
        first = await helpdesk.add_comment(1, "Refund issued.", idempotency_key="act-8")
    assert sent == ["PUT /api/v2/tickets/1.json"]  # one round trip, no audits lookup
    sent.clear()
    again = await helpdesk.add_comment(1, "Refund issued.", idempotency_key="act-8")  # a retry
    assert sent == ["GET /api/v2/tickets/1/audits.json"]  # looked, found it, wrote nothing
    assert again["deduplicated"] is True and again["comment_id"] == first["comment_id"]


async def test_add_comment_without_key_is_not_deduplicated(
    helpdesk: HelpdeskConnector, helpdesk_sim: Sim
) -> None:
    before = len(helpdesk_sim.get("/api/v2/tickets/1/comments.json")["comments"])
    await helpdesk.add_comment(1, "Ping")
    await helpdesk.add_comment(1, "Ping")
    assert len(helpdesk_sim.get("/api/v2/tickets/1/comments.json")["comments"]) == before + 2


async def test_add_comment_to_missing_ticket(helpdesk: HelpdeskConnector) -> None:
    with pytest.raises(ConnectorError) as err:
        await helpdesk.add_comment(424242, "hi", idempotency_key="k")
    assert err.value.status == 404


async def test_update_ticket_changes_fields_and_appends_tags(
    helpdesk: HelpdeskConnector, helpdesk_sim: Sim
) -> None:
    result = await helpdesk.update_ticket(
        4,
        priority="urgent",
        status="pending",
        add_tags=["vip", "billing"],
        assignee_email="marco.rossi@northwind.example",
        idempotency_key="act-9",
    )
    marco = helpdesk_sim.state.user_by_email("marco.rossi@northwind.example")
    assert marco is not None
    ticket = await helpdesk.get_ticket(4)
    assert ticket["priority"] == "urgent"
    assert ticket["status"] == "pending"
    assert ticket["tags"] == ["billing", "double_charge", "vip"]
    assert ticket["assignee_id"] == marco["id"]
    assert set(result["changed"]) == {"priority", "status", "tags", "assignee_id"}
    assert result["deduplicated"] is False
    audits = helpdesk_sim.get("/api/v2/tickets/4/audits.json")["audits"]
    assert audits[-1]["id"] == result["audit_id"]
    assert audits[-1]["metadata"]["custom"]["switchboard_action_id"] == "act-9"


async def test_update_ticket_twice_with_the_same_key(helpdesk: HelpdeskConnector, helpdesk_sim: Sim) -> None:
    await helpdesk.update_ticket(2, priority="high", idempotency_key="act-10")
    helpdesk_sim.state.update_ticket(2, {"priority": "low"}, author_id=None)  # a person changes it meanwhile
    again = await helpdesk.update_ticket(2, priority="high", idempotency_key="act-10")
    assert again["deduplicated"] is True
    assert (await helpdesk.get_ticket(2))["priority"] == "low"  # the retry did not overwrite the person
    keyed = [
        a for a in helpdesk_sim.get("/api/v2/tickets/2/audits.json")["audits"] if a["metadata"]["custom"]
    ]
    assert len(keyed) == 1


async def test_update_ticket_needs_a_field(helpdesk: HelpdeskConnector, helpdesk_sim: Sim) -> None:
    seen = helpdesk_sim.fault_stats()["requests"]
    with pytest.raises(ConnectorError, match="at least one"):
        await helpdesk.update_ticket(2, idempotency_key="act-11")
    assert helpdesk_sim.fault_stats()["requests"] == seen  # nothing was sent


async def test_update_ticket_rejects_a_non_agent_assignee(helpdesk: HelpdeskConnector) -> None:
    with pytest.raises(ConnectorError) as err:
        await helpdesk.update_ticket(2, assignee_email="dana.whitfield@example.com")
    assert err.value.status == 422
    assert "is not an agent" in str(err.value)


async def test_create_ticket_for_a_new_customer(helpdesk: HelpdeskConnector, helpdesk_sim: Sim) -> None:
    result = await helpdesk.create_ticket(
        "Dispute opened for charge ch_123",
        "Stripe reports a dispute for $49.00.",
        "li.wei@example.com",
        priority="high",
        tags=["dispute"],
        idempotency_key="act-20",
    )
    ticket = helpdesk_sim.get(f"/api/v2/tickets/{result['ticket_id']}.json")["ticket"]
    assert ticket["subject"] == "Dispute opened for charge ch_123"
    assert ticket["priority"] == "high" and ticket["tags"] == ["dispute"]
    requester = await helpdesk.find_user("li.wei@example.com")
    assert requester is not None and requester["name"] == "Li Wei"
    assert ticket["requester_id"] == requester["id"]
    comments = helpdesk_sim.get(f"/api/v2/tickets/{result['ticket_id']}/comments.json")["comments"]
    assert [c["body"] for c in comments] == ["Stripe reports a dispute for $49.00."]


async def test_create_ticket_with_the_same_key_creates_one(
    helpdesk: HelpdeskConnector, helpdesk_sim: Sim
) -> None:
    count = len(helpdesk_sim.state.tickets)
    first = await helpdesk.create_ticket(
        "Hello", "First message", "sam.okafor@example.com", idempotency_key="k-1"
    )
    second = await helpdesk.create_ticket(
        "Hello", "First message", "sam.okafor@example.com", idempotency_key="k-1"
    )
    assert second["ticket_id"] == first["ticket_id"]
    assert (first["deduplicated"], second["deduplicated"]) == (False, True)
    assert len(helpdesk_sim.state.tickets) == count + 1
    other = await helpdesk.create_ticket(
        "Hello", "First message", "sam.okafor@example.com", idempotency_key="k-2"
    )
    assert other["ticket_id"] != first["ticket_id"]


async def test_create_ticket_key_reused_with_other_content(helpdesk: HelpdeskConnector) -> None:
    await helpdesk.create_ticket("A", "a", "sam.okafor@example.com", idempotency_key="k-3")
    # The header alone (no lookup of the ticket the key opened first): Zendesk's own check.
    with pytest.raises(ConnectorError) as err, first_attempt():
        await helpdesk.create_ticket("B", "b", "sam.okafor@example.com", idempotency_key="k-3")
    assert err.value.status == 400
    assert "IdempotentRequestError" in str(err.value)


async def test_concurrent_creates_with_one_key_make_one_ticket(
    helpdesk: HelpdeskConnector, helpdesk_sim: Sim
) -> None:
    count = len(helpdesk_sim.state.tickets)
    results = await asyncio.gather(
        *[
            helpdesk.create_ticket("Same", "same", "raj.patel@example.org", idempotency_key="k-4")
            for _ in range(8)
        ],
        *[helpdesk.create_ticket(f"T{i}", "x", "raj.patel@example.org") for i in range(8)],
    )
    assert len({r["ticket_id"] for r in results[:8]}) == 1
    assert len({r["ticket_id"] for r in results}) == 9
    assert len(helpdesk_sim.state.tickets) == count + 9


async def test_customer_can_open_a_ticket_without_credentials(helpdesk_sim: Sim) -> None:
    response = helpdesk_sim.http.post(
        "/api/v2/tickets.json",
        json={
            "ticket": {
                "subject": "Help",
                "comment": {"body": "My order is late"},
                "requester": {"email": "new@example.com"},
            }
        },
    )
    assert response.status_code == 201
    ticket = response.json()["ticket"]
    comments = helpdesk_sim.get(f"/api/v2/tickets/{ticket['id']}/comments.json")["comments"]
    assert comments[0]["author_id"] == ticket["requester_id"]
    assert ticket["status"] == "new"


# --- through the tool layer --------------------------------------------------------------


async def test_tool_invoke_passes_the_action_id_as_key(
    helpdesk: HelpdeskConnector, helpdesk_sim: Sim
) -> None:
    from tools.from_connector import tools_for

    tool = next(t for t in tools_for("helpdesk", helpdesk) if t.operation == "add_comment")
    args = {"ticket_id": 3, "body": "Update: customs released it."}
    assert tool.validate(args) == []
    first = await tool.invoke(args, "action-42")
    second = await tool.invoke(args, "action-42")
    assert second == {**first, "deduplicated": True}
    bodies = [c["body"] for c in helpdesk_sim.get("/api/v2/tickets/3/comments.json")["comments"]]
    assert bodies.count("Update: customs released it.") == 1


async def test_default_client_settings_work_against_the_simulator(
    helpdesk_sim: Sim, fake_sleep: FakeSleep
) -> None:
    connector = HelpdeskConnector(
        build_client(helpdesk_sim.url, retry=retry_policy(fake_sleep), rate_limit=1000)
    )
    try:
        assert (await connector.get_ticket(1))["id"] == 1
    finally:
        await connector.aclose()
