"""A loopback Northwind ERP: the SOAP 1.1 accounting service in `erp.wsdl`.

It serves its WSDL (`GET /NorthwindERP.asmx?wsdl`, `GET /erp.wsdl`, with soap:address
pointing at itself under any mount prefix) and answers SOAP 1.1 envelopes at
`POST /NorthwindERP.asmx` only, as ASP.NET does: a trailing slash or another path
is refused, and so is a request without a SOAPAction header or whose SOAPAction
does not name the body's element. Answers
are proper envelopes; errors are SOAP faults (HTTP 500) with `soap:Client` or
`soap:Server` faultcodes and an `ERPFault` detail carrying an error code such as
`InvoiceNotFound`, `UnbalancedEntry`, `UnknownAccount` or `DuplicateEntry`. Like the
real ERP it takes a caller-chosen EntryId per journal entry and refuses a second
entry with the same id, which is what makes the connector's write exactly-once.

State is in memory behind a lock (the demo serves from uvicorn's thread while
tests read from theirs). Faults and credentials come from
`connectors.simulator_base` (`POST /_faults`, `GET /_state`).
"""

from __future__ import annotations

import asyncio
import copy
import html
import re
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from lxml import etree

from connectors.erp import seed as seed_data
from connectors.simulator_base import Faults, SimulatorAuth, simulator_app

WSDL_PATH = Path(__file__).with_name("erp.wsdl")
TNS = "http://schemas.northwind.example/erp/2011/06"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
OPERATIONS = (
    "GetInvoice",
    "ListInvoices",
    "GetVendor",
    "FindVendor",
    "ListGLAccounts",
    "PostJournalEntry",
    "GetJournalEntry",
)
CENT = Decimal("0.01")
MAX_LINES = 200

# No entity expansion, no network: a request body is untrusted XML.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False)


class ERPFault(Exception):
    """A SOAP fault: `side` is "Client" (the request is wrong) or "Server" (we failed)."""

    def __init__(self, error_code: str, message: str, *, side: str = "Client"):
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.side = side


def _money(value: Any, what: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ERPFault("InvalidValue", f"{what} is not a decimal amount: {value!r}") from None
    if not amount.is_finite():
        raise ERPFault("InvalidValue", f"{what} is not a decimal amount: {value!r}")
    if amount != amount.quantize(CENT):
        raise ERPFault("InvalidValue", f"{what} has more than 2 decimal places: {value}")
    return amount.quantize(CENT)


def _date(value: str | None, what: str) -> date:
    try:
        return date.fromisoformat((value or "").strip()[:10])
    except ValueError:
        raise ERPFault("InvalidValue", f"{what} is not a date (YYYY-MM-DD): {value!r}") from None


# --- state ---------------------------------------------------------------------------


class ERPState:
    """Chart of accounts, vendors, AP invoices and journal entries (by EntryId)."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None):
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self.accounts: dict[str, dict[str, Any]] = {}
        self.vendors: dict[str, dict[str, Any]] = {}
        self.invoices: list[dict[str, Any]] = []
        self.journal_entries: dict[str, dict[str, Any]] = {}
        self.soap_requests = 0  # envelopes received at POST /, counted before anything else
        self.calls: list[str] = []  # operation names, in order
        self._next_document = 1
        self._next_entry = 1840  # a ledger with history

    def now(self) -> datetime:
        return self._clock()

    def today(self) -> date:
        return self._clock().date()

    # invoices

    def add_invoice(self, invoice: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            year = invoice["EnteredAt"].year
            record = {"DocumentNumber": f"AP-{year}-{self._next_document:05d}", **invoice}
            self._next_document += 1
            self.invoices.append(record)
            return record

    def invoices_numbered(self, number: str) -> list[dict[str, Any]]:
        wanted = number.strip().upper()
        with self._lock:
            found = [
                copy.deepcopy(i)
                for i in self.invoices
                if i["InvoiceNumber"].upper() == wanted or i["DocumentNumber"].upper() == wanted
            ]
        if not found:
            raise ERPFault("InvoiceNotFound", f"Invoice '{number}' was not found")
        return found

    def list_invoices(
        self,
        vendor_id: str | None = None,
        status: str | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> list[dict[str, Any]]:
        if vendor_id:
            self.vendor(vendor_id)  # an unknown vendor is a fault, not an empty list
        with self._lock:
            out = []
            for inv in self.invoices:
                if vendor_id and inv["VendorId"].upper() != vendor_id.strip().upper():
                    continue
                if status and inv["Status"] != status:
                    continue
                if from_date and inv["InvoiceDate"] < from_date:
                    continue
                if to_date and inv["InvoiceDate"] > to_date:
                    continue
                out.append({k: copy.deepcopy(v) for k, v in inv.items() if k != "Lines"})
            return out

    # vendors and accounts

    def vendor(self, vendor_id: str) -> dict[str, Any]:
        with self._lock:
            found = self.vendors.get(vendor_id.strip().upper())
            if found is None:
                raise ERPFault("VendorNotFound", f"Vendor '{vendor_id}' was not found")
            return copy.deepcopy(found)

    def find_vendors(self, name: str) -> list[dict[str, Any]]:
        needle = " ".join(name.lower().split())
        if len(needle) < 2:
            raise ERPFault("InvalidValue", "Name must have at least 2 characters")
        with self._lock:
            return [copy.deepcopy(v) for v in self.vendors.values() if needle in v["Name"].lower()]

    def list_accounts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(a) for _, a in sorted(self.accounts.items())]

    # journal entries

    def journal_entry(self, entry_id: str) -> dict[str, Any]:
        with self._lock:
            entry = self.journal_entries.get(entry_id)
            if entry is None:
                raise ERPFault("EntryNotFound", f"Journal entry with EntryId '{entry_id}' was not found")
            return copy.deepcopy(entry)

    def post_journal_entry(
        self,
        entry_id: str,
        entry_date: date,
        memo: str,
        lines: list[dict[str, Any]],
        *,
        posted_by: str,
        posted_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Validate like the ERP does, then post; a repeated EntryId is `DuplicateEntry`."""
        entry_id = entry_id.strip()
        if not entry_id or len(entry_id) > 64:
            raise ERPFault("InvalidValue", "EntryId must have 1 to 64 characters")
        if not memo.strip():
            raise ERPFault("InvalidValue", "Memo is required")
        if len(lines) < 2:
            raise ERPFault("InvalidEntry", "A journal entry needs at least two lines")
        if len(lines) > MAX_LINES:
            raise ERPFault("InvalidEntry", f"A journal entry has at most {MAX_LINES} lines")
        with self._lock:
            existing = self.journal_entries.get(entry_id)
            if existing is not None:
                raise ERPFault(
                    "DuplicateEntry",
                    f"A journal entry with EntryId '{entry_id}' already exists "
                    f"({existing['JournalEntryNumber']})",
                )
            debit = credit = Decimal("0.00")
            for n, line in enumerate(lines, start=1):
                account = self.accounts.get(str(line["Account"]).strip())
                if account is None:
                    raise ERPFault(
                        "UnknownAccount", f"Line {n}: GL account '{line['Account']}' does not exist"
                    )
                if not account["Active"]:
                    raise ERPFault(
                        "InactiveAccount",
                        f"Line {n}: GL account {account['AccountNumber']} ({account['Name']}) is inactive",
                    )
                d, c = line["Debit"], line["Credit"]
                if d < 0 or c < 0:
                    raise ERPFault("InvalidLine", f"Line {n}: amounts cannot be negative")
                if (d > 0) == (c > 0):
                    raise ERPFault("InvalidLine", f"Line {n}: give either a debit or a credit amount")
                debit += d
                credit += c
            if debit != credit:
                raise ERPFault(
                    "UnbalancedEntry",
                    f"Journal entry is out of balance: debits {debit:.2f}, credits {credit:.2f}",
                )
            number = f"JE-{entry_date.year}-{self._next_entry:06d}"
            self._next_entry += 1
            entry = {
                "EntryId": entry_id,
                "JournalEntryNumber": number,
                "Date": entry_date,
                "Memo": memo.strip(),
                "PostedAt": posted_at or self.now(),
                "PostedBy": posted_by,
                "TotalDebit": debit,
                "TotalCredit": credit,
                "Lines": {
                    "Line": [
                        {
                            "Account": str(line["Account"]).strip(),
                            "Debit": line["Debit"],
                            "Credit": line["Credit"],
                            "Description": line.get("Description") or None,
                        }
                        for line in lines
                    ]
                },
            }
            self.journal_entries[entry_id] = entry
            return copy.deepcopy(entry)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "accounts": len(self.accounts),
                "vendors": len(self.vendors),
                "invoices": len(self.invoices),
                "journal_entries": [
                    {
                        "EntryId": e["EntryId"],
                        "JournalEntryNumber": e["JournalEntryNumber"],
                        "Date": e["Date"].isoformat(),
                        "Memo": e["Memo"],
                        "Total": f"{e['TotalDebit']:.2f}",
                    }
                    for e in self.journal_entries.values()
                ],
                "soap_requests": self.soap_requests,
                "calls": list(self.calls),
            }


# --- XML -----------------------------------------------------------------------------


def _text_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value == value.quantize(CENT) else str(value.normalize())
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _append(parent: etree._Element, name: str, value: Any) -> None:
    """Render a record in WSDL order: dicts nest, lists repeat the element, None is omitted."""
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _append(parent, name, item)
        return
    el = etree.SubElement(parent, f"{{{TNS}}}{name}")
    if isinstance(value, dict):
        for key, sub in value.items():
            _append(el, key, sub)
    else:
        el.text = _text_value(value)


def _envelope() -> tuple[etree._Element, etree._Element]:
    env = etree.Element(f"{{{SOAP11_ENV}}}Envelope", nsmap={"soap": SOAP11_ENV, "erp": TNS})
    body = etree.SubElement(env, f"{{{SOAP11_ENV}}}Body")
    return env, body


def _xml_response(env: etree._Element, status: int = 200) -> Response:
    content = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    return Response(content, status_code=status, media_type=XML_CONTENT_TYPE)


def answer(operation: str, children: dict[str, Any]) -> Response:
    env, body = _envelope()
    wrapper = etree.SubElement(body, f"{{{TNS}}}{operation}Response")
    for name, value in children.items():
        _append(wrapper, name, value)
    return _xml_response(env)


def fault_response(fault: ERPFault | None, *, faultcode: str | None = None, message: str = "") -> Response:
    """A SOAP 1.1 fault (HTTP 500, as SOAP 1.1 over HTTP requires)."""
    env, body = _envelope()
    node = etree.SubElement(body, f"{{{SOAP11_ENV}}}Fault")
    etree.SubElement(node, "faultcode").text = faultcode or f"soap:{fault.side if fault else 'Server'}"
    etree.SubElement(node, "faultstring").text = fault.message if fault else message
    if fault is not None:
        detail = etree.SubElement(node, "detail")
        erp = etree.SubElement(detail, f"{{{TNS}}}ERPFault")
        etree.SubElement(erp, f"{{{TNS}}}ErrorCode").text = fault.error_code
        etree.SubElement(erp, f"{{{TNS}}}Message").text = fault.message
    return _xml_response(env, status=500)


def _child(el: etree._Element, name: str) -> etree._Element | None:
    found = el.find(f"{{{TNS}}}{name}")
    return found if found is not None else el.find(name)  # tolerate unqualified children


def _text(el: etree._Element, name: str, *, required: bool = False) -> str | None:
    node = _child(el, name)
    value = (node.text or "").strip() if node is not None else None
    if required and not value:
        raise ERPFault("InvalidValue", f"{name} is required")
    return value or None


# --- operations ----------------------------------------------------------------------


def handle(state: ERPState, operation: str, request: etree._Element, principal: str | None) -> Response:
    if operation == "GetInvoice":
        number = _text(request, "InvoiceNumber", required=True) or ""
        return answer(operation, {"Invoice": state.invoices_numbered(number)})
    if operation == "ListInvoices":
        status = _text(request, "Status")
        if status is not None and status not in ("OPEN", "PAID", "VOID"):
            raise ERPFault("InvalidValue", f"Status must be OPEN, PAID or VOID, not {status!r}")
        from_text, to_text = _text(request, "FromDate"), _text(request, "ToDate")
        invoices = state.list_invoices(
            vendor_id=_text(request, "VendorId"),
            status=status,
            from_date=_date(from_text, "FromDate") if from_text else None,
            to_date=_date(to_text, "ToDate") if to_text else None,
        )
        return answer(operation, {"Invoices": {"Invoice": invoices}})
    if operation == "GetVendor":
        return answer(operation, {"Vendor": state.vendor(_text(request, "VendorId", required=True) or "")})
    if operation == "FindVendor":
        vendors = state.find_vendors(_text(request, "Name", required=True) or "")
        return answer(operation, {"Vendors": {"Vendor": vendors}})
    if operation == "ListGLAccounts":
        return answer(operation, {"Accounts": {"Account": state.list_accounts()}})
    if operation == "GetJournalEntry":
        entry_id = _text(request, "EntryId", required=True) or ""
        return answer(operation, {"JournalEntry": state.journal_entry(entry_id)})
    if operation == "PostJournalEntry":
        lines_node = _child(request, "Lines")
        lines = []
        for n, line in enumerate(
            [] if lines_node is None else [c for c in lines_node if etree.QName(c).localname == "Line"],
            start=1,
        ):
            lines.append(
                {
                    "Account": _text(line, "Account") or "",
                    "Debit": _money(_text(line, "Debit") or "0", f"Line {n} Debit"),
                    "Credit": _money(_text(line, "Credit") or "0", f"Line {n} Credit"),
                    "Description": _text(line, "Description"),
                }
            )
        entry = state.post_journal_entry(
            _text(request, "EntryId", required=True) or "",
            _date(_text(request, "Date", required=True), "Date"),
            _text(request, "Memo", required=True) or "",
            lines,
            posted_by=(principal or "SWITCHBOARD").upper(),
        )
        return answer(operation, {"JournalEntryNumber": entry["JournalEntryNumber"]})
    raise ERPFault("UnknownOperation", f"Unknown operation {operation}")  # unreachable: dispatch checks


def _soap_action(request: Request) -> str | None:
    raw = request.headers.get("soapaction")
    if raw is None:
        return None
    value = raw.strip().strip('"').strip()
    return value or None


def dispatch(state: ERPState, raw: bytes, soap_action: str | None, principal: str | None) -> Response:
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        return fault_response(ERPFault("MalformedRequest", f"The request is not well-formed XML: {exc}"))
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        return fault_response(
            None, faultcode="soap:VersionMismatch", message="This service speaks SOAP 1.1 only"
        )
    if root.tag != f"{{{SOAP11_ENV}}}Envelope":
        return fault_response(ERPFault("MalformedRequest", "The request is not a SOAP 1.1 envelope"))
    body = root.find(f"{{{SOAP11_ENV}}}Body")
    payload = next(iter(body), None) if body is not None else None
    if payload is None or not isinstance(payload.tag, str):
        return fault_response(ERPFault("MalformedRequest", "The SOAP Body is empty"))
    qname = etree.QName(payload)
    operation = qname.localname if qname.namespace == TNS else None
    if soap_action is None:
        # ASP.NET web services (.asmx) dispatch on the SOAPAction header alone, and refuse
        # a SOAP 1.1 request without one rather than guess from the body.
        return fault_response(
            None,
            faultcode="soap:Client",
            message="Server did not recognize the value of HTTP Header SOAPAction: .",
        )
    if soap_action is not None:
        action_op = soap_action.rsplit("/", 1)[-1] if soap_action.startswith(TNS) else None
        if action_op not in OPERATIONS:
            return fault_response(
                ERPFault(
                    "UnknownOperation",
                    f"Server did not recognize the value of HTTP Header SOAPAction: {soap_action}",
                )
            )
        if operation != action_op:
            return fault_response(
                ERPFault(
                    "MalformedRequest",
                    f"SOAPAction {soap_action} does not match the body element {qname.localname}",
                )
            )
    if operation not in OPERATIONS:
        return fault_response(
            ERPFault("UnknownOperation", f"Unknown operation element {{{qname.namespace}}}{qname.localname}")
        )
    with state._lock:
        state.calls.append(operation)
    try:
        return handle(state, operation, payload, principal)
    except ERPFault as fault:
        return fault_response(fault)
    except Exception as exc:  # the ERP answers a fault, never a stack trace
        return fault_response(
            ERPFault("InternalError", f"Internal error: {type(exc).__name__}", side="Server")
        )


def erp_error_body(status: int) -> dict[str, Any]:
    """Bodies for injected faults and auth failures: the gateway in front of the ERP
    answers these, not the SOAP stack, so they are not envelopes."""
    if status == 401:
        return {"error": "Unauthorized", "message": "Invalid credentials for the ERP web services"}
    if status == 429:
        return {"error": "TooManyRequests", "message": "Request quota exceeded; retry later"}
    return {"error": "ServiceUnavailable", "message": f"The ERP gateway answered {status}"}


# --- the app -------------------------------------------------------------------------


# The service's one address, as IIS serves an ASP.NET web service: nothing else answers SOAP.
ENDPOINT = "/NorthwindERP.asmx"


def create_app(
    state: ERPState | None = None,
    *,
    seed: bool = True,
    auth: SimulatorAuth | None = None,
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """A Northwind ERP SOAP service as an ASGI app. `seed` fills an empty state with the
    demo data; state, faults and auth are also on `app.state` for in-process tests."""
    state = state if state is not None else ERPState(clock=clock)
    if seed and not state.accounts:
        seed_data.seed(state)
    faults = faults or Faults()
    auth = auth or SimulatorAuth()
    wsdl_text = WSDL_PATH.read_text(encoding="utf-8")
    app = simulator_app(
        "Northwind ERP simulator (SOAP 1.1)",
        state_name="erp",
        state=state,
        faults=faults,
        auth=auth,
        error_body=erp_error_body,
        sleep=sleep,
        openapi_url=None,
    )

    def endpoint(request: Request) -> str:
        # Not request.base_url: under a Mount that is the outer app's root.
        root = request.scope.get("root_path", "")
        return str(request.url.replace(path=root + ENDPOINT, query="", fragment=""))

    def wsdl_for(request: Request) -> Response:
        location = html.escape(endpoint(request), quote=True)
        text = re.sub(r'(<soap:address\s+location=")[^"]*(")', rf"\g<1>{location}\g<2>", wsdl_text)
        return Response(text, media_type=XML_CONTENT_TYPE)

    @app.get(ENDPOINT, include_in_schema=False)
    async def service_page(request: Request) -> Response:
        if "wsdl" in {k.lower() for k in request.query_params}:
            return wsdl_for(request)
        url = html.escape(endpoint(request))
        items = "".join(f"<li>{op}</li>" for op in OPERATIONS)
        return HTMLResponse(
            "<!doctype html><html><head><title>NorthwindERP Web Service</title></head><body>"
            f"<h1>NorthwindERP</h1><p>SOAP 1.1 endpoint: {url}. Service description: "
            f'<a href="{url}?wsdl">{url}?wsdl</a></p><ul>{items}</ul></body></html>'
        )

    @app.get("/erp.wsdl", include_in_schema=False)
    async def wsdl_file(request: Request) -> Response:
        return wsdl_for(request)

    @app.post(ENDPOINT, include_in_schema=False)
    async def soap(request: Request) -> Response:
        raw = await request.body()
        with state._lock:
            state.soap_requests += 1
        return dispatch(state, raw, _soap_action(request), getattr(request.state, "principal", None))

    @app.post(ENDPOINT + "/{rest:path}", include_in_schema=False)
    async def path_info(rest: str) -> Response:
        # ASP.NET reads anything after `.asmx` as a method name (HTTP GET/POST bindings,
        # off here); a bare trailing slash is refused with these exact words.
        ending = f"'/{rest}'" if rest else "'/'"
        return Response(
            f"System.InvalidOperationException: Request format is unrecognized for URL unexpectedly "
            f"ending in {ending}.",
            status_code=500,
            media_type="text/plain; charset=utf-8",
        )

    return app
