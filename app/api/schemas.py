"""Request bodies. Field constraints produce 422s that name the field."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.services.month_end import normalize_period
from connectors.currency import exponent

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=100_000)
    requester_email: str = Field(pattern=EMAIL, max_length=320)
    external_id: str | int | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("subject", "body")
    @classmethod
    def not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arguments: dict[str, Any] | None = None
    # The `version` of the action the approver read: the approval applies to those arguments only.
    version: str | None = Field(default=None, min_length=1, max_length=64)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: str


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=100)


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=20_000)
    conversation_id: str | None = Field(default=None, max_length=64)


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=3, max_length=200)
    max_risk: str = "low"
    max_amount: int | None = None
    roles: list[str] = Field(default_factory=list)
    description: str | None = Field(default=None, max_length=1000)
    arguments_schema: dict[str, Any] | None = None


class RecordIn(BaseModel):
    """A financial record. Amounts are in major units (12.50), as people write them."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["transaction", "invoice", "refund", "dispute"]
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")  # before `amount`, whose decimals it sets
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=3)
    counterparty: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=5000)
    external_id: str | int | None = None
    date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    invoice_number: str | None = Field(default=None, max_length=100)
    vendor_id: str | None = Field(default=None, max_length=100)
    customer_email: str | None = Field(default=None, pattern=EMAIL)
    charge_id: str | None = Field(default=None, max_length=100)
    dispute_id: str | None = Field(default=None, max_length=100)
    iban: str | None = Field(default=None, max_length=40)
    notes: str | None = Field(default=None, max_length=5000)

    @field_validator("amount", mode="before")
    @classmethod
    def plain_amount(cls, v: Any) -> Any:
        """A JSON number, or a string of digits with at most one decimal point ("486.20").

        Python's Decimal would also take "1_000", "1e3", " 12 " and "Infinity"; an amount
        a person or a system meant differently must be refused, not guessed."""
        if isinstance(v, bool):
            raise ValueError("must be a number, not true or false")
        if isinstance(v, int | float):
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError("must be a finite number")
            return Decimal(str(v))
        if isinstance(v, str) and PLAIN_DECIMAL.fullmatch(v):
            return v
        raise ValueError(
            f"must be an amount in major units written with digits and at most one decimal point "
            f"(like 1000 or 486.20), not {str(v)[:40]!r}"
        )

    @field_validator("amount")
    @classmethod
    def decimals_of_its_currency(cls, v: Decimal, info: ValidationInfo) -> Decimal:
        """No finer than the currency's minor unit: 5000.5 JPY or 12.345 USD names no amount a
        payment system can move; 5.125 KWD does (three decimals)."""
        currency = info.data.get("currency")
        places = exponent(currency)
        if currency and -int(v.normalize().as_tuple().exponent) > places:
            unit = "no decimals" if places == 0 else f"at most {places} decimals"
            raise ValueError(f"{str(currency).upper()} amounts have {unit}, not {v}")
        return v


class ReconciliationIn(BaseModel):
    """Month-end: match a period's payouts against the ERP's journal. `period` is a month
    (`2026-11`) or a range of days (`2026-11-01..2026-11-15`)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["reconciliation"]
    period: str = Field(max_length=40)
    external_id: str | int | None = None
    notes: str | None = Field(default=None, max_length=5000)

    @field_validator("period")
    @classmethod
    def a_period(cls, v: str) -> str:
        return normalize_period(v)


class WorkflowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request: str = Field(min_length=8, max_length=2000)
