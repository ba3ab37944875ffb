"""Request bodies. Field constraints produce 422s that name the field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


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
