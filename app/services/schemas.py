from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from app.core.schemas import LocalizedText


class DepartmentRead(BaseModel):
    id: uuid.UUID
    code: str = Field(description="The department's number in the city's organisation chart.")
    name: LocalizedText
    email: str | None
    version: int
