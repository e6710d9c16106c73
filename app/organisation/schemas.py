from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.core.pagination import Page
from app.core.schemas import EmailAddress, LocalizedName, LocalizedText


class Address(BaseModel):
    street: str = Field(examples=["Südwall"])
    house_number: str = Field(examples=["2-4"])
    postal_code: str = Field(pattern=r"^\d{5}$", examples=["44137"])
    city: str = Field(examples=["Dortmund"])


class BranchRead(BaseModel):
    id: uuid.UUID
    code: str = Field(description="Stable short code of the branch, e.g. `hoerde`.")
    name: str = Field(examples=["Bürgerdienste Innenstadt"])
    address: Address
    district: str | None = Field(description="City district, for grouping on maps.")
    phone: str | None
    email: str | None
    wheelchair_accessible: bool
    latitude: float | None = Field(description="WGS 84 latitude of the entrance.")
    longitude: float | None = Field(description="WGS 84 longitude of the entrance.")
    version: int = Field(description="Increases with every change; the ETag carries it.")


class BranchPage(Page[BranchRead]):
    pass


class BranchUpdate(BaseModel):
    """Contact details the branch's own staff may keep current. Send only what changes;
    `null` removes a phone number or e-mail address."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"phone": "0231 50-11100", "wheelchair_accessible": True}]},
    )

    phone: str | None = Field(default=None, max_length=50, pattern=r"^[0-9 +()/-]{3,50}$")
    email: EmailAddress | None = None
    wheelchair_accessible: StrictBool | None = None


class DepartmentRead(BaseModel):
    id: uuid.UUID
    code: str = Field(description="The department's number in the city's organisation chart.")
    name: LocalizedText
    email: str | None
    version: int = Field(description="Increases with every change; the ETag carries it.")


class DepartmentPage(Page[DepartmentRead]):
    pass


class DepartmentUpdate(BaseModel):
    """Fields a department's supervisor may change. Send only what changes; `null` removes
    the e-mail address."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": {"de": "Bürgerdienste", "en": "Citizen services"}}]
        },
    )

    name: LocalizedName | None = None
    email: EmailAddress | None = None
