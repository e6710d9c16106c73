from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class Address(BaseModel):
    street: str
    house_number: str
    postal_code: str = Field(pattern=r"^\d{5}$")
    city: str


class BranchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str = Field(description="Stable short code of the branch, e.g. `hoerde`.")
    name: str
    address: Address
    district: str | None
    phone: str | None
    email: str | None
    wheelchair_accessible: bool
    latitude: float | None
    longitude: float | None
    version: int


class BranchUpdate(BaseModel):
    """Contact details the branch's own staff may keep current. Send only what changes."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(default=None, max_length=50, pattern=r"^[0-9 +()/-]{3,50}$")
    email: EmailStr | None = None
    wheelchair_accessible: bool | None = None
