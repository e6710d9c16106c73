from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.core.schemas import LocalizedName, LocalizedText


class DepartmentRead(BaseModel):
    id: uuid.UUID
    code: str = Field(description="The department's number in the city's organisation chart.")
    name: LocalizedText
    email: str | None
    version: int


class DepartmentUpdate(BaseModel):
    """Fields a department's supervisor may change. Send only what changes."""

    model_config = ConfigDict(extra="forbid")

    name: LocalizedName | None = None
    email: EmailStr | None = None
