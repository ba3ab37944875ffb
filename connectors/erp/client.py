"""The accounting/ERP connector: Northwind ERP's SOAP 1.1 web service, through zeep.

The WSDL ships with the package (`erp.wsdl`) and is parsed once per process, so
building a connector needs no network; requests go to the connection's base_url
(plus the optional `endpoint` path in the config), never to the WSDL's
soap:address. base_url is the service's own address, e.g.
`https://erp.example.com/services/NorthwindERP.asmx`, posted to exactly as given. zeep speaks over the connector's own `httpx.AsyncClient`, so auth,
timeouts, retries and rate limits are the same as for every other connector.

Journal entries are exactly-once: the ERP takes a caller-chosen EntryId and
refuses a second entry with the same id with a `DuplicateEntry` fault. The
action's idempotency key is that EntryId; on the fault the connector reads the
entry that is already there and returns it as deduplicated.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import httpx
import zeep
import zeep.exceptions
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from zeep.helpers import serialize_object
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from connectors.base import Connector, ConnectorError, Facts, Money, objects, operation, transport_error

log = logging.getLogger(__name__)

WSDL_PATH = Path(__file__).with_name("erp.wsdl")
TNS = "http://schemas.northwind.example/erp/2011/06"
BINDING = f"{{{TNS}}}NorthwindERPSoap"
MAX_ENTRY_ID = 64
CENT = Decimal("0.01")

InvoiceStatus = Literal["open", "paid", "void"]
IsoDate = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="a date, YYYY-MM-DD")]


class JournalLine(BaseModel):
    """One line of a journal entry: a debit or a credit to one GL account."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=1, description="GL account number, e.g. '6200'")
    debit: float = Field(default=0, ge=0)
    credit: float = Field(default=0, ge=0)
    description: str = ""


_LINES = TypeAdapter(list[JournalLine])

# What a journal entry puts at stake: its total debits (a balanced entry's credits are the same
# sum), written in major units on each line and read by the gate as minor units. An entry names
# no currency: the ERP keeps its ledger in one currency with two decimals (the lines are refused
# with more), and every line is in it. So the gate counts the debits' cents against its
# two-approver threshold as it counts a refund's, and against the record's amount on the
# assumption that the record is in the ledger's currency (the finance pipeline books a record's
# amount as it is, converting nothing).
JOURNAL_MONEY = Money(amount="debit", currency=None, lines="lines", counter="credit", major_units=True)


class ERPFault(ConnectorError):
    """A SOAP fault from the ERP; `code` is its ERPFault ErrorCode (e.g. 'UnknownAccount')."""

    def __init__(self, message: str, *, code: str | None, faultcode: str | None, retryable: bool):
        super().__init__(message, status=500, retryable=retryable)
        self.code = code
        self.faultcode = faultcode


@functools.lru_cache(maxsize=1)
def _document() -> Any:
    """The parsed WSDL, shared by every connector: parsing costs ~50 ms, the file is local."""
    from zeep.wsdl import Document

    return Document(str(WSDL_PATH), zeep.Transport(), settings=zeep.Settings(strict=True))  # type: ignore[arg-type]


class _HttpxTransport(AsyncTransport):  # type: ignore[misc]
    """zeep's AsyncTransport over the connector's client, as is.

    zeep's own __init__ builds fresh httpx clients and overwrites their headers; we
    keep the handed client (auth, retries, rate limit) untouched instead. Every ERP
    operation is safe to repeat (reads, and PostJournalEntry is deduplicated by its
    EntryId), so requests carry an Idempotency-Key: that is the mark our retry layer
    needs to repeat a POST after a timeout or 503; the ERP itself ignores the header.
    """

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.wsdl_client = None
        self.cache = None
        self.load_timeout = None
        self.operation_timeout = None
        self._close_session = False
        self.logger = logging.getLogger("zeep.transports")

    def _load_remote_data(self, url: str) -> bytes:
        raise ConnectorError(f"the ERP connector never fetches documents over the network ({url})")

    async def post(self, address: str, message: bytes, headers: dict[str, str]) -> httpx.Response:
        headers = {
            **headers,
            "Accept": "text/xml, application/soap+xml",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        return await self.client.post(address, content=message, headers=headers)

    async def aclose(self) -> None:  # the connector owns the client
        return None


def _plain(value: Any) -> Any:
    """zeep's objects as JSON-safe data: dicts, lists, floats, ISO dates; None dropped;
    ArrayOf wrappers ({"Line": [...]}) flattened to their list."""
    if isinstance(value, dict):
        items = {k: _plain(v) for k, v in value.items() if v is not None}
        if len(value) == 1:
            (only,) = value.values()
            if isinstance(only, list):
                return _plain(only)
        return items
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ConnectorError(f"{field} must be a date as YYYY-MM-DD, not {value!r}") from None


def _cents(value: float, where: str) -> Decimal:
    amount = Decimal(str(value))
    if amount != amount.quantize(CENT):
        raise ConnectorError(f"{where} has more than 2 decimal places: {value}")
    return amount.quantize(CENT)


def _entry_id(key: str | None) -> str:
    """The ERP's EntryId for this write: the idempotency key itself when it fits."""
    if not key:
        return f"SB-{uuid.uuid4().hex}"
    if len(key) <= MAX_ENTRY_ID:
        return key
    return "SB-" + hashlib.sha256(key.encode()).hexdigest()[:56]


class ERPConnector(Connector):
    """Northwind ERP (SOAP 1.1): AP invoices, vendors, chart of accounts, journal entries."""

    kind: ClassVar[str] = "erp"
    description: ClassVar[str] = (
        "Northwind ERP accounting (SOAP): AP invoices, vendors, GL accounts, journal entries."
    )

    def __init__(self, client: httpx.AsyncClient, config: dict[str, Any] | None = None):
        super().__init__(client, config)
        zclient = zeep.AsyncClient(wsdl=_document(), transport=_HttpxTransport(client))
        binding = zclient.wsdl.bindings[BINDING]
        self._service = AsyncServiceProxy(zclient, binding, address=self.address)

    default_label: ClassVar[str] = "Northwind ERP"

    @classmethod
    def facts(cls, data: Any) -> Facts:
        """The bank account on each vendor record in an answer: the payees a payment may go to."""
        vendors: dict[str, dict[str, Any]] = {}
        for node in objects(data):
            vendor_id, iban = node.get("VendorId"), node.get("IBAN")
            if vendor_id and isinstance(iban, str) and iban.strip() and "Name" in node:
                vendors[str(vendor_id)] = {"name": node.get("Name"), "iban": "".join(iban.split()).upper()}
        return {"vendors": vendors}

    @property
    def address(self) -> str:
        """Where envelopes are posted: base_url, or base_url joined with config `endpoint`."""
        endpoint = str(self.config.get("endpoint") or "")
        base = self.client.base_url
        url = base.join(endpoint) if endpoint else base
        # httpx keeps a base_url's path ending in "/"; an ASP.NET service lives at the
        # .asmx itself and refuses `…/NorthwindERP.asmx/`, so the slash is dropped.
        if url.path != "/":
            url = url.copy_with(path=url.path.rstrip("/"))
        return str(url)

    # --- plumbing ---

    async def _call(self, op: str, **kwargs: Any) -> Any:
        if not self.client.base_url.host:
            raise ConnectorError(f"{self.label}: the connection has no base_url to post {op} to")
        try:
            result = await getattr(self._service, op)(**kwargs)
        except zeep.exceptions.Fault as exc:
            raise self._fault(op, exc) from None
        except zeep.exceptions.TransportError as exc:
            status = exc.status_code or None
            detail = (exc.content or b"")[:200]
            text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
            if status == 401:
                message = f"{self.label} rejected the credentials (401); check the connection's username and password"
            else:
                message = f"{self.label} answered {status} to {op}: {' '.join(text.split()) or exc.message}"
            retryable = status is not None and (status in (408, 425, 429) or status >= 500)
            raise ConnectorError(message, status=status, retryable=retryable) from None
        except zeep.exceptions.ValidationError as exc:
            raise ConnectorError(f"{self.label} {op}: invalid request: {exc.message}") from None
        except zeep.exceptions.XMLSyntaxError as exc:
            raise ConnectorError(
                f"{self.label} answered {op} with something that is not SOAP: {exc}"
            ) from None
        except httpx.TransportError as exc:
            raise transport_error(exc, self.label, doing=op) from exc
        return _plain(serialize_object(result, dict))

    def _fault(self, op: str, exc: zeep.exceptions.Fault) -> ERPFault:
        code = None
        if exc.detail is not None:
            node = exc.detail.find(f".//{{{TNS}}}ErrorCode")
            code = node.text.strip() if node is not None and node.text else None
        faultcode = str(exc.code) if exc.code else None
        server_side = bool(faultcode and faultcode.rsplit(":", 1)[-1].endswith("Server"))
        message = f"{self.label} rejected {op}: {exc.message}" + (f" ({code})" if code else "")
        return ERPFault(message, code=code, faultcode=faultcode, retryable=server_side)

    # --- reads ---

    @operation(effect="read")
    async def get_invoice(self, invoice_number: str) -> dict[str, Any]:
        """Fetch an AP invoice by the vendor's invoice number (or the ERP's AP document number), with
        its lines, amounts, due date, status and payment. If the number was entered more than once,
        `duplicates` lists the other documents: a sign it may be paid twice."""
        found = await self._call("GetInvoice", InvoiceNumber=invoice_number.strip())
        invoices: list[dict[str, Any]] = found if isinstance(found, list) else [found]
        first = dict(invoices[0])
        if len(invoices) > 1:
            first["duplicates"] = invoices[1:]
            others = ", ".join(str(i.get("DocumentNumber")) for i in invoices)
            first["warning"] = (
                f"{len(invoices)} documents carry invoice number {invoice_number}: {others} "
                "(possible duplicate entry)"
            )
        return first

    @operation(effect="read")
    async def list_invoices(
        self,
        vendor_id: str | None = None,
        status: InvoiceStatus | None = None,
        from_date: IsoDate | None = None,
        to_date: IsoDate | None = None,
    ) -> list[dict[str, Any]]:
        """List AP invoice headers (no lines), optionally for one vendor id (e.g. 'V1002'), one status
        (open, paid, void) and an invoice-date range. Useful to spot duplicates before paying."""
        kwargs: dict[str, Any] = {}
        if vendor_id:
            kwargs["VendorId"] = vendor_id.strip()
        if status:
            kwargs["Status"] = status.upper()
        if from_date:
            kwargs["FromDate"] = _parse_date(from_date, "from_date")
        if to_date:
            kwargs["ToDate"] = _parse_date(to_date, "to_date")
        found = await self._call("ListInvoices", **kwargs)
        return found if isinstance(found, list) else []

    @operation(effect="read")
    async def get_vendor(self, vendor_id: str) -> dict[str, Any]:
        """Fetch a vendor by id (e.g. 'V1004'): legal name, tax id, contact, address, IBAN/BIC,
        currency, payment terms and default GL account."""
        vendor: dict[str, Any] = await self._call("GetVendor", VendorId=vendor_id.strip())
        return vendor

    @operation(effect="read")
    async def find_vendor(self, name: str) -> list[dict[str, Any]]:
        """Find vendors whose name contains the text (case-insensitive), e.g. 'fabrikam'."""
        found = await self._call("FindVendor", Name=name.strip())
        return found if isinstance(found, list) else []

    @operation(effect="read")
    async def list_gl_accounts(self) -> list[dict[str, Any]]:
        """The chart of accounts: number, name, type and whether it can be posted to (Active)."""
        found = await self._call("ListGLAccounts")
        return found if isinstance(found, list) else []

    @operation(effect="read")
    async def get_journal_entry(self, entry_id: str) -> dict[str, Any]:
        """Fetch a posted journal entry by its EntryId, with its number, lines and totals."""
        entry: dict[str, Any] = await self._call("GetJournalEntry", EntryId=entry_id.strip())
        return entry

    # --- writes ---

    @operation(effect="write", idempotency="key", final=True, money=JOURNAL_MONEY)
    async def post_journal_entry(
        self,
        date: IsoDate,
        memo: str,
        lines: Annotated[list[JournalLine], Field(min_length=2)],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Post a balanced journal entry to the general ledger: each line debits or credits one GL
        account (see list_gl_accounts); total debits must equal total credits. Returns the ERP's
        journal entry number."""
        entry_date = _parse_date(date, "date")
        if not memo.strip():
            raise ConnectorError("the journal entry needs a memo")
        try:
            parsed = _LINES.validate_python(lines)
        except ValidationError as exc:
            raise ConnectorError(f"invalid journal lines: {exc}") from None
        if len(parsed) < 2:
            raise ConnectorError("a journal entry needs at least two lines")
        wire_lines = []
        total_debit = total_credit = Decimal("0.00")
        for n, line in enumerate(parsed, start=1):
            debit = _cents(line.debit, f"line {n} debit")
            credit = _cents(line.credit, f"line {n} credit")
            if (debit > 0) == (credit > 0):
                raise ConnectorError(f"line {n} ({line.account}) must have either a debit or a credit amount")
            total_debit += debit
            total_credit += credit
            wire_lines.append(
                {
                    "Account": line.account.strip(),
                    "Debit": debit,
                    "Credit": credit,
                    "Description": line.description.strip() or None,
                }
            )
        if total_debit != total_credit:
            raise ConnectorError(
                f"the journal entry does not balance: debits {total_debit:.2f}, credits {total_credit:.2f}"
            )
        entry_id = _entry_id(idempotency_key)
        try:
            number = await self._call(
                "PostJournalEntry",
                EntryId=entry_id,
                Date=entry_date,
                Memo=memo.strip(),
                Lines={"Line": wire_lines},
            )
        except ERPFault as exc:
            if exc.code != "DuplicateEntry":
                raise
            # The EntryId is this action's (or, without a key, was made up for this call and
            # reached the ERP on an attempt whose answer was lost): the entry is ours.
            existing = await self.get_journal_entry(entry_id)
            return self._entry_result(existing, deduplicated=True)
        return {
            "entry_id": entry_id,
            "journal_entry_number": number,
            "date": entry_date.isoformat(),
            "memo": memo.strip(),
            "total": float(total_debit),
            "deduplicated": False,
        }

    @staticmethod
    def _entry_result(entry: dict[str, Any], *, deduplicated: bool) -> dict[str, Any]:
        return {
            "entry_id": entry.get("EntryId"),
            "journal_entry_number": entry.get("JournalEntryNumber"),
            "date": entry.get("Date"),
            "memo": entry.get("Memo"),
            "total": entry.get("TotalDebit"),
            "deduplicated": deduplicated,
        }

    def live_checks(self) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        return [("check", self.check), ("find_vendor", lambda: self.find_vendor("a"))]

    # --- the ledger and new vendors ---

    @operation(effect="read")
    async def list_journal_entries(
        self, from_date: IsoDate | None = None, to_date: IsoDate | None = None
    ) -> list[dict[str, Any]]:
        """Posted journal entries (EntryId, number, date, memo, lines), oldest first, optionally
        within an entry-date range. What is already booked: check it before booking again."""
        kwargs: dict[str, Any] = {}
        if from_date:
            kwargs["FromDate"] = _parse_date(from_date, "from_date")
        if to_date:
            kwargs["ToDate"] = _parse_date(to_date, "to_date")
        found = await self._call("ListJournalEntries", **kwargs)
        return found if isinstance(found, list) else []

    # A new payee, with the bank account payments to it will go to (`payee`: the gate then keeps
    # whoever posted the invoice from approving it, and never rates it low).
    @operation(effect="write", idempotency="key", payee="iban")
    async def create_vendor(
        self,
        name: Annotated[str, Field(min_length=2, max_length=200)],
        currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")],
        email: str | None = None,
        tax_id: str | None = None,
        iban: str | None = None,
        bic: str | None = None,
        payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None,
        default_gl_account: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Create a vendor in the ERP's master data (name, currency, contact, bank account, default
        GL account). Payments to a new vendor's bank account need it verified first."""
        vendor: dict[str, Any] = await self._call(
            "CreateVendor",
            RequestId=_entry_id(idempotency_key),
            Name=name.strip(),
            TaxId=tax_id,
            Email=email,
            IBAN=iban.replace(" ", "").upper() if iban else None,
            BIC=bic,
            Currency=currency.upper(),
            PaymentTermsDays=payment_terms_days,
            DefaultGLAccount=default_gl_account,
        )
        return vendor

    async def check(self) -> dict[str, Any]:
        accounts = await self.list_gl_accounts()
        return {"ok": True, "gl_accounts": len(accounts)}
