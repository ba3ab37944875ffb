"""The CRM connector against its HubSpot simulator over real loopback HTTP.

Every operation is exercised; notes are read back the way HubSpot shows them (v4
associations, v3 objects, search). HubSpot has no idempotency key, so the note
check-then-write is tested for a repeated approval and for an answer lost after the
write landed. Also: 429s with Retry-After, HubSpot's error shape, and the tool schemas.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from connectors.base import ConnectorError
from connectors.crm.client import ACTION_PROPERTY, CrmConnector, HubSpotError
from connectors.crm.seed import CONTACTS, INJECTION_TEXT
from connectors.crm.simulator import CrmState, create_app
from connectors.http import BearerAuth, build_client
from connectors.simulator_base import SimulatorAuth
from tests.connectors.conftest import FakeSleep, Sim, retry_policy
from tools.base import Tool
from tools.from_connector import tools_for

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_crm_sim(make_sim: Callable[..., Sim], **kwargs: Any) -> Sim:
    return make_sim(app=create_app(auth=SimulatorAuth(bearer=frozenset({TOKEN})), **kwargs))


@pytest.fixture
def crm_sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_crm_sim(make_sim)


def state_of(sim: Sim) -> CrmState:
    state: CrmState = sim.app.state.crm
    return state


def connector(url: str, sleep: FakeSleep, *, token: str = TOKEN, timeout: float = 5.0) -> CrmConnector:
    return CrmConnector(build_client(url, auth=BearerAuth(token), retry=retry_policy(sleep), timeout=timeout))


@pytest.fixture
async def crm(crm_sim: Sim, fake_sleep: FakeSleep) -> AsyncIterator[CrmConnector]:
    c = connector(crm_sim.url, fake_sleep)
    yield c
    await c.aclose()


def get(sim: Sim, path: str, **params: Any) -> Any:
    response = sim.http.get(path, params=params, headers=AUTH)
    response.raise_for_status()
    return response.json()


def post(sim: Sim, path: str, body: dict[str, Any]) -> httpx.Response:
    return sim.http.post(path, json=body, headers=AUTH)


async def contact_id(crm: CrmConnector, email: str) -> str:
    found = await crm.find_contact(email)
    assert found is not None, email
    return str(found["id"])


def notes_with_marker(sim: Sim, key: str) -> list[dict[str, Any]]:
    body = {
        "filterGroups": [{"filters": [{"propertyName": ACTION_PROPERTY, "operator": "EQ", "value": key}]}]
    }
    response = post(sim, "/crm/v3/objects/notes/search", body)
    response.raise_for_status()
    results: list[dict[str, Any]] = response.json()["results"]
    return results


# --- reads -------------------------------------------------------------------------------


async def test_check_names_the_portal(crm: CrmConnector) -> None:
    assert await crm.check() == {
        "ok": True,
        "portal_id": 24681357,
        "currency": "USD",
        "time_zone": "US/Eastern",
    }


async def test_wrong_token_is_a_clear_401(crm_sim: Sim, fake_sleep: FakeSleep) -> None:
    c = connector(crm_sim.url, fake_sleep, token="pat-na1-wrong")
    try:
        with pytest.raises(HubSpotError) as err:
            await c.find_contact("raj.patel@example.org")
    finally:
        await c.aclose()
    assert err.value.status == 401 and err.value.category == "INVALID_AUTHENTICATION"
    assert "rejected the access token" in str(err.value)


async def test_find_contact_by_email(crm: CrmConnector) -> None:
    raj = await crm.find_contact("RAJ.PATEL@example.org")
    assert raj is not None
    assert raj["id"].isdigit() and raj["archived"] is False
    props = raj["properties"]
    assert props["email"] == "raj.patel@example.org"
    assert (props["firstname"], props["lastname"]) == ("Raj", "Patel")
    assert props["company"] == "Patel Hospitality Group" and props["jobtitle"] == "Purchasing manager"
    assert props["hs_object_id"] == raj["id"] and props["createdate"].endswith("Z")
    assert await crm.find_contact("nobody@example.com") is None
    with pytest.raises(ConnectorError, match="needs an email"):
        await crm.find_contact("  ")


async def test_help_desk_customers_are_all_contacts(crm: CrmConnector) -> None:
    helpdesk_customers = {
        "dana.whitfield@example.com",
        "jonas.weber@example.org",
        "sam.okafor@example.com",
        "greta.lindqvist@example.net",
        "raj.patel@example.org",
        "maria.gonzalez@example.com",
        "kevin.doyle@example.net",
    }
    assert helpdesk_customers <= {c.email for c in CONTACTS}
    for email in helpdesk_customers:
        assert await crm.find_contact(email) is not None


async def test_get_contact_with_associations_and_company(crm: CrmConnector) -> None:
    kevin = await crm.get_contact(await contact_id(crm, "kevin.doyle@example.net"))
    assert kevin["properties"]["phone"] == "+1 303 555 0199"
    assert kevin["properties"]["hs_lead_status"] is None  # asked for but unset: null, as HubSpot answers
    companies = kevin["associations"]["companies"]["results"]
    assert {c["type"] for c in companies} == {"contact_to_company", "contact_to_company_unlabeled"}
    deals = kevin["associations"]["deals"]["results"]
    assert [d["type"] for d in deals] == ["contact_to_deal"]
    company = await crm.get_company(companies[0]["id"])
    assert company["properties"]["name"] == "Doyle Property Management"
    assert company["properties"]["domain"] == "doylepm.example.net"
    assert company["properties"]["numberofemployees"] == "45"  # every value is a string
    dana = await crm.get_contact(await contact_id(crm, "dana.whitfield@example.com"))
    assert "associations" not in dana  # a shopper, no company or deal


async def test_missing_objects_are_clear_errors(crm: CrmConnector) -> None:
    with pytest.raises(HubSpotError) as err:
        await crm.get_contact("999999")
    assert err.value.status == 404 and err.value.category == "OBJECT_NOT_FOUND"
    assert not err.value.retryable and err.value.correlation_id
    assert "Object not found" in str(err.value) and "contact 999999" in str(err.value)
    with pytest.raises(ConnectorError, match="not a HubSpot object id"):
        await crm.get_company("../contacts/151")


async def test_list_deals_of_a_contact(crm: CrmConnector) -> None:
    deals = await crm.list_deals(await contact_id(crm, "kevin.doyle@example.net"))
    assert len(deals) == 1
    props = deals[0]["properties"]
    assert props["dealname"] == "Doyle PM - 12 standing desks for new office"
    assert (props["amount"], props["deal_currency_code"]) == ("4188.00", "USD")
    assert props["dealstage"] == "contractsent" and props["pipeline"] == "default"
    assert await crm.list_deals(await contact_id(crm, "dana.whitfield@example.com")) == []


async def test_list_notes_newest_first_with_untrusted_text_kept_verbatim(crm: CrmConnector) -> None:
    notes = await crm.list_notes(await contact_id(crm, "kevin.doyle@example.net"))
    assert len(notes) == 2
    stamps = [n["properties"]["hs_timestamp"] for n in notes]
    assert stamps == sorted(stamps, reverse=True)
    assert INJECTION_TEXT in notes[0]["properties"]["hs_note_body"]  # data, passed on unchanged
    assert "office move" in notes[1]["properties"]["hs_note_body"]


# --- notes: writes ------------------------------------------------------------------------


async def test_add_note_read_back(crm: CrmConnector, crm_sim: Sim) -> None:
    cid = await contact_id(crm, "greta.lindqvist@example.net")
    result = await crm.add_note(
        cid, "Customs released the parcel; tracking updated.", idempotency_key="act-1"
    )
    assert result["deduplicated"] is False and result["contact_id"] == cid
    note_id = result["note_id"]
    note = get(crm_sim, f"/crm/v3/objects/notes/{note_id}", properties=f"hs_note_body,{ACTION_PROPERTY}")
    assert note["properties"]["hs_note_body"] == "Customs released the parcel; tracking updated."
    assert note["properties"][ACTION_PROPERTY] == "act-1"
    to_contacts = get(crm_sim, f"/crm/v4/objects/notes/{note_id}/associations/contacts")["results"]
    assert to_contacts == [
        {
            "toObjectId": int(cid),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 202, "label": None}],
        }
    ]
    from_contact = get(crm_sim, f"/crm/v4/objects/contacts/{cid}/associations/notes")["results"]
    assert {"category": "HUBSPOT_DEFINED", "typeId": 201, "label": None} in from_contact[-1][
        "associationTypes"
    ]
    newest = (await crm.list_notes(cid))[0]
    assert newest["id"] == note_id


async def test_add_note_approved_twice_is_one_note(crm: CrmConnector, crm_sim: Sim) -> None:
    cid = await contact_id(crm, "raj.patel@example.org")
    before = len(await crm.list_notes(cid))
    first = await crm.add_note(cid, "Refunded the duplicate Plus charge.", idempotency_key="act-2")
    again = await crm.add_note(cid, "Refunded the duplicate Plus charge.", idempotency_key="act-2")
    assert first["deduplicated"] is False and again["deduplicated"] is True
    assert again["note_id"] == first["note_id"]
    assert len(await crm.list_notes(cid)) == before + 1
    assert [n["id"] for n in notes_with_marker(crm_sim, "act-2")] == [first["note_id"]]
    other = await crm.add_note(cid, "Follow-up call booked.", idempotency_key="act-3")
    assert other["deduplicated"] is False and other["note_id"] != first["note_id"]
    assert len(await crm.list_notes(cid)) == before + 2


class LoseNoteAnswers(httpx.AsyncBaseTransport):
    """Delivers the note-creating POST, then loses its answer (a read timeout), `times` times."""

    def __init__(self, times: int = 1):
        self.inner = httpx.AsyncHTTPTransport()
        self.times = times
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/crm/v3/objects/notes") and self.times:
            self.times -= 1
            self.lost += 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_add_note_answer_lost_after_write_then_retried(crm_sim: Sim, fake_sleep: FakeSleep) -> None:
    """The crash case in small: the note lands, its answer never arrives; HubSpot has no
    idempotency key, so the HTTP layer must not repeat the POST - the retried action
    finds the first note by its marker instead."""
    lossy = LoseNoteAnswers(times=1)
    c = CrmConnector(
        build_client(crm_sim.url, auth=BearerAuth(TOKEN), retry=retry_policy(fake_sleep), transport=lossy)
    )
    cid = str(state_of(crm_sim).find("contacts", "sam.okafor@example.com", "email")["id"])
    try:
        with pytest.raises(ConnectorError) as err:
            await c.add_note(cid, "Billing address updated.", idempotency_key="act-4")
        assert err.value.retryable and "did not answer in time" in str(err.value)
        assert lossy.lost == 1 and fake_sleep.delays == []  # the POST was not repeated by the HTTP layer
        assert len(notes_with_marker(crm_sim, "act-4")) == 1  # but it had landed
        again = await c.add_note(cid, "Billing address updated.", idempotency_key="act-4")
    finally:
        await c.aclose()
    assert again["deduplicated"] is True
    assert len(notes_with_marker(crm_sim, "act-4")) == 1


async def test_note_request_on_the_wire(fake_sleep: FakeSleep) -> None:
    """Look for the marker among the contact's notes first (its associations, then a batch read:
    search lags writes), then create with HubSpot's v3 association format."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/associations/notes"):
            return httpx.Response(200, json={"results": [{"toObjectId": 40001, "associationTypes": []}]})
        if request.url.path.endswith("/batch/read"):
            return httpx.Response(
                200, json={"status": "COMPLETE", "results": [{"id": "40001", "properties": {}}]}
            )
        return httpx.Response(201, json={"id": "40100", "properties": {}})

    client = build_client(
        "https://api.hubapi.com",
        auth=BearerAuth(TOKEN),
        retry=retry_policy(fake_sleep),
        transport=httpx.MockTransport(handler),
    )
    c = CrmConnector(client)
    try:
        result = await c.add_note("151", "Called back.", idempotency_key="act-9")
    finally:
        await c.aclose()
    assert result == {"note_id": "40100", "contact_id": "151", "deduplicated": False}
    listed, read, create = seen
    assert listed.method == "GET" and listed.url.path == "/crm/v4/objects/contacts/151/associations/notes"
    assert read.url.path == "/crm/v3/objects/notes/batch/read"
    assert json.loads(read.content) == {
        "inputs": [{"id": "40001"}],
        "properties": [ACTION_PROPERTY],
        "propertiesWithHistory": [],
    }
    assert create.method == "POST" and create.url.path == "/crm/v3/objects/notes"
    assert create.headers["authorization"] == f"Bearer {TOKEN}"
    assert "idempotency-key" not in create.headers  # HubSpot has none; never fake one
    body = json.loads(create.content)
    assert body["properties"]["hs_note_body"] == "Called back."
    assert body["properties"][ACTION_PROPERTY] == "act-9"
    assert body["properties"]["hs_timestamp"].endswith("Z") and len(body["properties"]["hs_timestamp"]) == 24
    assert body["associations"] == [
        {"to": {"id": "151"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}
    ]


async def test_add_note_without_the_custom_property_says_what_to_create(
    make_sim: Callable[..., Sim], fake_sleep: FakeSleep
) -> None:
    sim = make_crm_sim(make_sim, action_property=False)
    c = connector(sim.url, fake_sleep)
    try:
        cid = await contact_id(c, "ann.lee@example.com")
        with pytest.raises(HubSpotError) as err:
            await c.add_note(cid, "Asked for a porch photo.", idempotency_key="act-5")
        assert err.value.status == 400 and err.value.category == "VALIDATION_ERROR"
        assert f'Property "{ACTION_PROPERTY}" does not exist' in str(err.value)
        assert "Settings > Properties" in str(err.value)
        # Once the owner creates it, the same action goes through.
        created = post(
            sim, "/crm/v3/properties/notes", {"name": ACTION_PROPERTY, "label": "Switchboard action"}
        )
        assert created.status_code == 201
        assert (await c.add_note(cid, "Asked for a porch photo.", idempotency_key="act-5"))["note_id"]
    finally:
        await c.aclose()


async def test_add_note_bad_input(crm: CrmConnector) -> None:
    with pytest.raises(ConnectorError, match="empty"):
        await crm.add_note("151", "   ")
    with pytest.raises(HubSpotError) as err:
        await crm.add_note("999999", "Hello")
    assert err.value.status == 400 and "no contact with id 999999" in str(err.value)
    with pytest.raises(ConnectorError, match="65536"):
        await crm.add_note("151", "x" * 70000)


# --- simulator semantics ------------------------------------------------------------------


def test_search_filter_groups_operators_and_paging(crm_sim: Sim) -> None:
    either = {
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": "ann.lee@example.com"}]},
            {"filters": [{"propertyName": "company", "operator": "HAS_PROPERTY"}]},
        ],
        "properties": ["email"],
    }
    found = post(crm_sim, "/crm/v3/objects/contacts/search", either).json()
    assert found["total"] == 5  # Ann, plus the four who buy for a company
    both = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "country", "operator": "IN", "values": ["Germany", "Sweden"]},
                    {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*weber*"},
                ]
            }
        ]
    }
    assert [
        r["properties"]["email"]
        for r in post(crm_sim, "/crm/v3/objects/contacts/search", both).json()["results"]
    ] == ["jonas.weber@example.org"]
    page = post(crm_sim, "/crm/v3/objects/contacts/search", {"limit": 3, "filterGroups": []}).json()
    assert len(page["results"]) == 3 and page["paging"]["next"]["after"] == "3"
    rest = post(crm_sim, "/crm/v3/objects/contacts/search", {"limit": 10, "after": "3"}).json()
    assert len(rest["results"]) == 5 and "paging" not in rest
    bad = post(
        crm_sim,
        "/crm/v3/objects/contacts/search",
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]},
    )
    assert bad.status_code == 400
    assert bad.json()["status"] == "error" and bad.json()["category"] == "VALIDATION_ERROR"
    assert bad.json()["correlationId"]


def test_notes_search_by_associated_contact(crm_sim: Sim) -> None:
    kevin = state_of(crm_sim).find("contacts", "kevin.doyle@example.net", "email")["id"]
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "associations.contact", "operator": "EQ", "value": kevin}]}
        ],
        "sorts": [{"propertyName": "hs_timestamp", "direction": "DESCENDING"}],
        "properties": ["hs_note_body"],
    }
    results = post(crm_sim, "/crm/v3/objects/notes/search", body).json()["results"]
    assert len(results) == 2 and INJECTION_TEXT in results[0]["properties"]["hs_note_body"]


def test_batch_read_reports_missing_ids_with_207(crm_sim: Sim) -> None:
    response = post(
        crm_sim,
        "/crm/v3/objects/deals/batch/read",
        {"properties": ["dealname"], "propertiesWithHistory": [], "inputs": [{"id": "12001"}, {"id": "1"}]},
    )
    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == ["12001"]
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND" and body["errors"][0]["context"] == {
        "ids": ["1"]
    }


def test_batch_read_without_properties_with_history_is_refused_as_hubspot_does(crm_sim: Sim) -> None:
    response = post(
        crm_sim, "/crm/v3/objects/deals/batch/read", {"properties": ["dealname"], "inputs": [{"id": "12001"}]}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    assert "propertiesWithHistory" in body["message"]
    unknown = post(
        crm_sim,
        "/crm/v3/objects/deals/batch/read",
        {"properties": [], "propertiesWithHistory": [], "inputs": [], "limit": 5},
    )
    assert unknown.status_code == 400 and "limit" in unknown.json()["message"]
    search = post(crm_sim, "/crm/v3/objects/contacts/search", {"filterGroups": [], "propertiez": ["email"]})
    assert search.status_code == 400 and "propertiez" in search.json()["message"]


def test_unknown_object_type_and_route(crm_sim: Sim) -> None:
    wrong = crm_sim.http.get("/crm/v3/objects/widgets/1", headers=AUTH)
    assert wrong.status_code == 400 and "Unable to infer object type" in wrong.json()["message"]
    nowhere = crm_sim.http.get("/crm/v9/nothing", headers=AUTH)
    assert nowhere.status_code == 404 and nowhere.json()["category"] == "OBJECT_NOT_FOUND"


# --- faults ---------------------------------------------------------------------------------


async def test_429_retry_after_is_honoured_on_reads(
    crm: CrmConnector, crm_sim: Sim, fake_sleep: FakeSleep
) -> None:
    crm_sim.faults(rate_limit_next=2, retry_after=4)
    contact = await crm.find_contact("maria.gonzalez@example.com")
    assert contact is not None
    assert fake_sleep.delays == [4.0, 4.0]
    assert crm_sim.fault_stats()["injected"] == 2


async def test_429_during_add_note_still_writes_once(
    crm: CrmConnector, crm_sim: Sim, fake_sleep: FakeSleep
) -> None:
    cid = await contact_id(crm, "jonas.weber@example.org")
    crm_sim.faults(rate_limit_next=2, retry_after=1, path="/crm/v3/objects/notes", methods=["POST"])
    result = await crm.add_note(cid, "Corrected invoice sent.", idempotency_key="act-6")
    assert result["deduplicated"] is False
    assert fake_sleep.delays == [1.0, 1.0]
    assert len(notes_with_marker(crm_sim, "act-6")) == 1


# --- what the model sees --------------------------------------------------------------------

OPERATIONS = {
    "find_contact": ("read", "none"),
    "get_contact": ("read", "none"),
    "get_company": ("read", "none"),
    "list_deals": ("read", "none"),
    "list_notes": ("read", "none"),
    "add_note": ("write", "check"),
}


@pytest.fixture
def tools() -> dict[str, Tool]:
    c = CrmConnector(httpx.AsyncClient(base_url="https://api.hubapi.com"))
    return {t.operation: t for t in tools_for("crm", c)}


def test_every_operation_is_a_tool_with_its_effect(tools: dict[str, Tool]) -> None:
    assert {op: (t.effect, t.idempotency) for op, t in tools.items()} == OPERATIONS
    for op, tool in tools.items():
        assert tool.name == f"crm__{op}"
        assert tool.description.startswith(f"[crm, {OPERATIONS[op][0]}] ") and len(tool.description) > 40
        assert tool.input_schema["additionalProperties"] is False
        assert "idempotency_key" not in tool.input_schema["properties"]


def test_add_note_schema(tools: dict[str, Tool]) -> None:
    tool = tools["add_note"]
    assert tool.input_schema["required"] == ["contact_id", "body"]
    assert tool.input_schema["properties"] == {"contact_id": {"type": "string"}, "body": {"type": "string"}}
    assert tool.validate({"contact_id": "151", "body": "hi"}) == []
    assert tool.validate({"contact_id": 151, "body": "hi"})  # ids are strings, as HubSpot sends them
    assert tool.validate({"contact_id": "151"})
    assert "instructions" in tools["list_notes"].description  # the model is told notes are data


def test_registered_with_its_simulator() -> None:
    from connectors.registry import CONNECTOR_TYPES
    from connectors.simulators import SIMULATORS

    assert CONNECTOR_TYPES["crm"] is CrmConnector
    assert isinstance(SIMULATORS["crm"](seed=False), FastAPI)
