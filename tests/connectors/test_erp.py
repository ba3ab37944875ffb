"""The ERP connector (zeep over httpx) against its SOAP simulator over loopback HTTP:
every operation, the served WSDL, faults, local validation and exactly-once journal entries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import zeep
from fastapi import FastAPI
from lxml import etree

from connectors.base import ConnectorError
from connectors.erp.client import ERPConnector, ERPFault
from connectors.erp.seed import iban
from connectors.erp.simulator import ENDPOINT, SOAP11_ENV, TNS, ERPState, create_app
from connectors.http import NO_RETRY, build_client
from connectors.simulator_base import SimulatorAuth
from tests.connectors.conftest import FakeSleep, retry_policy
from tools.from_connector import tools_for

TODAY = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
OPERATIONS = {
    "get_invoice": ("read", "none"),
    "list_invoices": ("read", "none"),
    "get_vendor": ("read", "none"),
    "find_vendor": ("read", "none"),
    "list_gl_accounts": ("read", "none"),
    "get_journal_entry": ("read", "none"),
    "post_journal_entry": ("write", "key"),
}
REFUND = [
    {"account": "4900", "debit": 129.0, "description": "Refund order NW-48102"},
    {"account": "1000", "credit": 129.0},
]


@dataclass
class ErpSim:
    app: FastAPI
    url: str
    http: httpx.Client

    @property
    def state(self) -> ERPState:
        state: ERPState = self.app.state.erp
        return state

    @property
    def endpoint(self) -> str:
        """The service's address: the .asmx itself, as a connection's base_url names it."""
        return self.url + ENDPOINT

    def soap(self, body: str, action: str | None = None, *, envelope_ns: str = SOAP11_ENV) -> httpx.Response:
        """Post a hand-written envelope, the way any other SOAP client would."""
        envelope = (
            f'<?xml version="1.0"?><s:Envelope xmlns:s="{envelope_ns}" xmlns:e="{TNS}">'
            f"<s:Body>{body}</s:Body></s:Envelope>"
        )
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if action is not None:
            headers["SOAPAction"] = f'"{action}"'
        return self.http.post(ENDPOINT, content=envelope, headers=headers)


@pytest.fixture
def make_erp_sim(
    serve_asgi: Callable[[Any], str], sync_transport: httpx.HTTPTransport
) -> Callable[..., ErpSim]:
    def make(**kwargs: Any) -> ErpSim:
        app = create_app(clock=lambda: TODAY, **kwargs)
        url = serve_asgi(app)
        return ErpSim(app, url, httpx.Client(base_url=url, transport=sync_transport))

    return make


@pytest.fixture
def sim(make_erp_sim: Callable[..., ErpSim]) -> ErpSim:
    return make_erp_sim()


@pytest.fixture
async def erp(sim: ErpSim, fake_sleep: FakeSleep) -> AsyncIterator[ERPConnector]:
    connector = ERPConnector(build_client(sim.endpoint, retry=retry_policy(fake_sleep), timeout=5.0))
    yield connector
    await connector.aclose()


def _fault(response: httpx.Response) -> tuple[str, str, str | None]:
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP11_ENV}}}Body/{{{SOAP11_ENV}}}Fault")
    assert fault is not None
    code = fault.find(f".//{{{TNS}}}ErrorCode")
    return (
        fault.findtext("faultcode") or "",
        fault.findtext("faultstring") or "",
        code.text if code is not None else None,
    )


# --- the WSDL and the wire ------------------------------------------------------------


def test_wsdl_is_served_with_its_own_address_and_works_for_any_soap_client(sim: ErpSim) -> None:
    for path in (ENDPOINT + "?wsdl", "/erp.wsdl"):
        response = sim.http.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        address = etree.fromstring(response.content).find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
        assert address is not None and address.get("location") == sim.endpoint  # mount prefix kept
    # A plain, synchronous zeep client that knows nothing of ours reads the served WSDL
    # and calls the service at the address the WSDL names.
    client = zeep.Client(sim.endpoint + "?wsdl")
    service = client.bind("NorthwindERP", "NorthwindERPSoap")
    assert set(client.wsdl.bindings[f"{{{TNS}}}NorthwindERPSoap"]._operations) == {
        "GetInvoice",
        "ListInvoices",
        "GetVendor",
        "FindVendor",
        "ListGLAccounts",
        "PostJournalEntry",
        "GetJournalEntry",
    }
    assert service.GetVendor(VendorId="V1006").Name == "Weber Logistik GmbH"


def test_faults_for_bad_envelopes(sim: ErpSim) -> None:
    assert _fault(sim.soap("<e:GetVendor><e:VendorId>V1001</e:VendorId></e:GetVendor>", f"{TNS}/GetInvoice"))[
        2
    ] == ("MalformedRequest")
    code, text, _ = _fault(sim.soap("<e:GetVendor/>", "urn:other/Thing"))
    assert code == "soap:Client" and "did not recognize the value of HTTP Header SOAPAction" in text
    code, text, _ = _fault(
        sim.soap("<e:ListGLAccounts/>", envelope_ns="http://www.w3.org/2003/05/soap-envelope")
    )
    assert code == "soap:VersionMismatch"
    response = sim.http.post(
        ENDPOINT,
        content=b"<not-xml",
        headers={"Content-Type": "text/xml", "SOAPAction": f'"{TNS}/GetVendor"'},
    )
    assert _fault(response)[2] == "MalformedRequest"
    ok = sim.soap("<e:GetVendor><e:VendorId>V1002</e:VendorId></e:GetVendor>", f"{TNS}/GetVendor")
    assert ok.status_code == 200 and b"Fabrikam Office Supplies" in ok.content


def test_the_service_is_as_strict_as_an_asmx(sim: ErpSim) -> None:
    """ASP.NET web services dispatch on SOAPAction and live at the .asmx itself."""
    # no SOAPAction: refused, never guessed from the body
    code, text, _ = _fault(sim.soap("<e:GetVendor><e:VendorId>V1002</e:VendorId></e:GetVendor>"))
    assert code == "soap:Client" and "HTTP Header SOAPAction: ." in text
    envelope = f'<s:Envelope xmlns:s="{SOAP11_ENV}" xmlns:e="{TNS}"><s:Body><e:ListGLAccounts/></s:Body></s:Envelope>'
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}/ListGLAccounts"'}
    slash = sim.http.post(ENDPOINT + "/", content=envelope, headers=headers)
    assert slash.status_code == 500 and "unexpectedly ending in '/'" in slash.text
    assert sim.http.post("/", content=envelope, headers=headers).status_code in (404, 405)
    assert sim.http.post(ENDPOINT, content=envelope, headers=headers).status_code == 200


async def test_the_client_posts_to_the_asmx_without_a_trailing_slash(sim: ErpSim) -> None:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        async with httpx.AsyncClient(base_url=sim.url) as real:
            return await real.send(request)

    connector = ERPConnector(
        build_client(sim.endpoint, transport=httpx.MockTransport(record), retry=NO_RETRY)
    )
    assert connector.address == sim.endpoint
    assert (await connector.get_vendor("V1001"))["Currency"] == "GBP"
    assert str(seen[0].url) == sim.endpoint
    assert seen[0].headers["SOAPAction"] == f'"{TNS}/GetVendor"'
    await connector.aclose()


# --- reads --------------------------------------------------------------------------


def test_every_operation_is_a_tool(erp: ERPConnector) -> None:
    tools = {t.operation: t for t in tools_for("erp", erp)}
    assert {op: (t.effect, t.idempotency) for op, t in tools.items()} == OPERATIONS
    post = tools["post_journal_entry"]
    assert post.input_schema["required"] == ["date", "memo", "lines"]
    assert post.input_schema["properties"]["lines"]["minItems"] == 2
    assert "idempotency_key" not in post.input_schema["properties"]
    assert post.validate({"date": "2025-03-14", "memo": "x", "lines": REFUND}) == []
    assert post.validate({"date": "14/03/2025", "memo": "x", "lines": REFUND})  # not ISO
    assert post.validate({"date": "2025-03-14", "memo": "x", "lines": [{"account": "1000", "debit": -5}] * 2})
    assert post.validate({"date": "2025-03-14", "memo": "x", "lines": [{"acct": "1000"}] * 2})
    assert tools["list_invoices"].validate({"status": "overdue"})


async def test_get_invoice_with_lines_as_plain_json(erp: ERPConnector) -> None:
    invoice = await erp.get_invoice("CK-3467")
    json.dumps(invoice)  # only JSON-safe values
    assert invoice["VendorId"] == "V1001"
    assert invoice["VendorName"] == "Contoso Kitchenware Ltd"
    assert invoice["InvoiceDate"] == "2025-02-24"  # 18 days before TODAY
    assert invoice["TotalAmount"] == 1120.0 and invoice["Currency"] == "GBP"
    assert invoice["Status"] == "OPEN" and invoice["PONumber"] == "PO-7802"
    assert invoice["Lines"] == [
        {
            "LineNumber": 1,
            "Description": "Stand mixer SM-5, carton of 6",
            "Quantity": 10.0,
            "UnitPrice": 112.0,
            "Amount": 1120.0,
            "GLAccount": "5000",
        }
    ]
    assert "duplicates" not in invoice and "PaidDate" not in invoice


async def test_get_invoice_entered_twice_is_flagged(erp: ERPConnector) -> None:
    invoice = await erp.get_invoice("ADT-10912")
    assert invoice["Status"] == "PAID"
    [twin] = invoice["duplicates"]
    assert twin["Status"] == "OPEN" and twin["TotalAmount"] == invoice["TotalAmount"]
    assert twin["DocumentNumber"] != invoice["DocumentNumber"]
    assert "possible duplicate" in invoice["warning"]


async def test_unknown_invoice_is_a_fault_with_its_faultstring(erp: ERPConnector) -> None:
    with pytest.raises(ERPFault) as caught:
        await erp.get_invoice("NOPE-1")
    assert "Invoice 'NOPE-1' was not found" in str(caught.value)
    assert caught.value.code == "InvoiceNotFound"
    assert caught.value.faultcode is not None and caught.value.faultcode.endswith("Client")
    assert caught.value.retryable is False


async def test_list_invoices_filters_and_shows_the_near_duplicate(erp: ERPConnector) -> None:
    fabrikam = await erp.list_invoices(vendor_id="V1002", status="open")
    assert [i["InvoiceNumber"] for i in fabrikam] == ["FAB-22817", "FAB-22871"]
    a, b = fabrikam
    assert (
        (a["TotalAmount"], a["InvoiceDate"]) == (b["TotalAmount"], b["InvoiceDate"]) == (583.83, "2025-03-02")
    )
    assert "Lines" not in a  # headers only
    assert [i["InvoiceNumber"] for i in await erp.list_invoices(status="void")] == ["BYT-88390"]
    recent = await erp.list_invoices(from_date="2025-03-10", to_date="2025-03-14")
    assert {i["InvoiceNumber"] for i in recent} == {"LD-0462", "ADT-11047", "WL-71251"}
    everything = await erp.list_invoices()
    assert len(everything) == 16
    with pytest.raises(ERPFault, match="Vendor 'V9999' was not found"):
        await erp.list_invoices(vendor_id="V9999")
    with pytest.raises(ConnectorError, match="YYYY-MM-DD"):
        await erp.list_invoices(from_date="2025-13-01")


async def test_vendors(erp: ERPConnector) -> None:
    vendor = await erp.get_vendor("V1004")
    assert vendor["ContactName"] == "Greta Lindqvist"
    assert vendor["Email"] == "greta.lindqvist@example.net"  # also a help-desk customer
    assert vendor["Address"]["City"] == "Stockholm" and vendor["PaymentTermsDays"] == 30
    number = vendor["IBAN"]
    rearranged = number[4:] + number[:4]
    assert int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1  # a valid IBAN
    assert iban("GB", "NWBK60161331926819") == "GB29NWBK60161331926819"  # the standard's example
    found = await erp.find_vendor("logistik")
    assert [v["VendorId"] for v in found] == ["V1006"]
    assert await erp.find_vendor("no such supplier") == []
    with pytest.raises(ERPFault, match="VendorNotFound"):
        await erp.get_vendor("V0000")


async def test_chart_of_accounts(erp: ERPConnector) -> None:
    accounts = {a["AccountNumber"]: a for a in await erp.list_gl_accounts()}
    assert accounts["1000"]["Name"].startswith("Cash")
    assert accounts["2100"]["Name"] == "Sales tax payable"
    assert {"1200", "2000", "4000", "5000", "6100", "6200", "6300", "6400"} <= set(accounts)
    assert accounts["6600"]["Active"] is False
    assert (await erp.check()) == {"ok": True, "gl_accounts": len(accounts)}


# --- writes -------------------------------------------------------------------------


async def test_post_journal_entry_returns_its_number(erp: ERPConnector, sim: ErpSim) -> None:
    before = len(sim.state.journal_entries)
    result = await erp.post_journal_entry("2025-03-14", "Refund NW-48102 (broken blender)", REFUND, "act-1")
    assert result["deduplicated"] is False and result["entry_id"] == "act-1"
    assert result["journal_entry_number"].startswith("JE-2025-")
    assert len(sim.state.journal_entries) == before + 1
    entry = await erp.get_journal_entry("act-1")
    assert entry["JournalEntryNumber"] == result["journal_entry_number"]
    assert entry["TotalDebit"] == entry["TotalCredit"] == 129.0
    assert entry["Lines"][0] == {
        "Account": "4900",
        "Debit": 129.0,
        "Credit": 0.0,
        "Description": "Refund order NW-48102",
    }


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ([{"account": "6200", "debit": 100}, {"account": "2000", "credit": 90}], "does not balance"),
        ([{"account": "6200", "debit": 0}, {"account": "2000", "credit": 0}], "either a debit or a credit"),
        ([{"account": "6200", "debit": 5, "credit": 5}, {"account": "2000", "credit": 0}], "either a debit"),
        ([{"account": "6200", "debit": 10.005}, {"account": "2000", "credit": 10.005}], "2 decimal places"),
        ([{"account": "6200", "debit": 10}], "at least two lines"),
        (
            [{"account": "6200", "debit": 10, "vat": 2}, {"account": "2000", "credit": 10}],
            "invalid journal lines",
        ),
    ],
)
async def test_bad_entries_are_rejected_before_any_request(
    erp: ERPConnector, sim: ErpSim, lines: list[dict[str, Any]], problem: str
) -> None:
    before = sim.state.soap_requests
    with pytest.raises(ConnectorError, match=problem):
        await erp.post_journal_entry("2025-03-14", "Office supplies", lines, "act-2")
    assert sim.state.soap_requests == before  # nothing reached the ERP


@pytest.mark.parametrize(
    ("account", "code", "faultstring"),
    [
        ("9999", "UnknownAccount", "Line 1: GL account '9999' does not exist"),
        ("6600", "InactiveAccount", "GL account 6600 (Entertainment (closed 2023, use 6300)) is inactive"),
    ],
)
async def test_the_erps_refusal_is_surfaced(
    erp: ERPConnector, sim: ErpSim, account: str, code: str, faultstring: str
) -> None:
    before = len(sim.state.journal_entries)
    lines = [{"account": account, "debit": 42.5}, {"account": "2000", "credit": 42.5}]
    with pytest.raises(ERPFault) as caught:
        await erp.post_journal_entry("2025-03-14", "Team lunch", lines, "act-3")
    assert faultstring in str(caught.value) and caught.value.code == code
    assert len(sim.state.journal_entries) == before


async def test_the_same_entry_id_twice_posts_once(erp: ERPConnector, sim: ErpSim) -> None:
    tool = {t.operation: t for t in tools_for("erp", erp)}["post_journal_entry"]
    arguments = {"date": "2025-03-14", "memo": "Refund NW-48102", "lines": REFUND}
    before = len(sim.state.journal_entries)
    first = await tool.invoke(arguments, "action-7f3a")
    second = await tool.invoke(arguments, "action-7f3a")  # e.g. retried after a crash
    assert len(sim.state.journal_entries) == before + 1
    assert first["deduplicated"] is False and second["deduplicated"] is True
    assert second["journal_entry_number"] == first["journal_entry_number"]
    assert second["entry_id"] == "action-7f3a" and second["total"] == 129.0
    assert sim.state.calls[-3:] == ["PostJournalEntry", "PostJournalEntry", "GetJournalEntry"]


async def test_a_long_key_still_deduplicates(erp: ERPConnector, sim: ErpSim) -> None:
    key = "run-" + "x" * 120
    first = await erp.post_journal_entry("2025-03-14", "Refund", REFUND, key)
    second = await erp.post_journal_entry("2025-03-14", "Refund", REFUND, key)
    assert len(first["entry_id"]) <= 64 and second["entry_id"] == first["entry_id"]
    assert second["deduplicated"] is True


async def test_without_a_key_a_duplicate_entry_is_not_hidden(erp: ERPConnector, sim: ErpSim) -> None:
    a = await erp.post_journal_entry("2025-03-14", "Refund", REFUND)
    b = await erp.post_journal_entry("2025-03-14", "Refund", REFUND)
    assert a["entry_id"] != b["entry_id"] and not b["deduplicated"]


async def test_a_503_is_retried_and_the_entry_lands_once(
    erp: ERPConnector, sim: ErpSim, fake_sleep: FakeSleep
) -> None:
    before = len(sim.state.journal_entries)
    sim.http.post("/_faults", json={"fail_next": 1, "status": 503}).raise_for_status()
    result = await erp.post_journal_entry("2025-03-14", "Refund", REFUND, "act-503")
    assert result["deduplicated"] is False
    assert len(sim.state.journal_entries) == before + 1
    assert len(fake_sleep.delays) == 1


class LoseFirstAnswer(httpx.AsyncBaseTransport):
    """Delivers the first PostJournalEntry to the ERP, then drops its answer (a read timeout)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not self.lost and request.headers.get("soapaction", "").endswith('/PostJournalEntry"'):
            self.lost += 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("key", ["act-lost", None])
async def test_an_entry_whose_answer_was_lost_lands_once(
    sim: ErpSim, fake_sleep: FakeSleep, key: str | None
) -> None:
    transport = LoseFirstAnswer()
    connector = ERPConnector(build_client(sim.endpoint, transport=transport, retry=retry_policy(fake_sleep)))
    before = len(sim.state.journal_entries)
    result = await connector.post_journal_entry("2025-03-14", "Refund NW-48102", REFUND, key)
    assert transport.lost == 1 and len(fake_sleep.delays) == 1  # retried by the HTTP layer
    assert len(sim.state.journal_entries) == before + 1
    assert result["deduplicated"] is True and result["journal_entry_number"].startswith("JE-2025-")
    assert sim.state.calls[-3:] == ["PostJournalEntry", "PostJournalEntry", "GetJournalEntry"]
    await connector.aclose()


async def test_errors_without_an_envelope(make_erp_sim: Callable[..., ErpSim], fake_sleep: FakeSleep) -> None:
    sim = make_erp_sim(auth=SimulatorAuth(basic=("svc-switchboard", "s3cret")))
    wrong = ERPConnector(build_client(sim.endpoint, auth=httpx.BasicAuth("svc-switchboard", "nope")))
    with pytest.raises(ConnectorError, match="rejected the credentials") as caught:
        await wrong.list_gl_accounts()
    assert caught.value.status == 401
    await wrong.aclose()
    right = ERPConnector(
        build_client(
            sim.endpoint, auth=httpx.BasicAuth("svc-switchboard", "s3cret"), retry=retry_policy(fake_sleep)
        )
    )
    sim.http.post("/_faults", json={"fail_next": 9, "status": 503}).raise_for_status()
    with pytest.raises(ConnectorError, match="answered 503") as caught:
        await right.get_vendor("V1001")
    assert caught.value.retryable is True
    sim.http.delete("/_faults")
    result = await right.post_journal_entry("2025-03-14", "Refund", REFUND, "act-auth")
    assert sim.state.journal_entries["act-auth"]["PostedBy"] == "SVC-SWITCHBOARD"
    assert result["journal_entry_number"]
    await right.aclose()


async def test_endpoint_config_and_no_network_for_the_wsdl(sim: ErpSim) -> None:
    connector = ERPConnector(build_client(sim.url + "/"), {"endpoint": ENDPOINT.lstrip("/")})
    assert connector.address == sim.endpoint
    assert (await connector.get_vendor("V1001"))["Currency"] == "GBP"
    await connector.aclose()


def test_registered() -> None:
    from connectors.registry import CONNECTOR_TYPES
    from connectors.simulators import SIMULATORS

    assert CONNECTOR_TYPES["erp"] is ERPConnector
    app = SIMULATORS["erp"](seed=False)
    assert isinstance(app, FastAPI) and app.state.erp.invoices == []
