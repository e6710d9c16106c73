from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ProviderRead(BaseModel):
    id: str
    display_name: str
    protocol: str
    max_level: Literal["low", "substantial", "high"]
    attributes: list[str] = Field(description="TR-03130 attribute names the provider can assert.")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str | None = Field(
        default=None, description="Single use: each refresh returns a new one."
    )
    level: Literal["low", "substantial", "high"] | None = None
    scope: str | None = None


class AttributeRead(BaseModel):
    name: str = Field(description="TR-03130 name, e.g. `FamilyNames`, `DateOfBirth`.")
    value: Any = Field(
        description="A string; `DateOfBirth` may be partial (`1964`, `1964-08`); "
        "`PlaceOfResidence` is `{street, postal_code, locality, country}` or `{free_text}`."
    )
    level: Literal["low", "substantial", "high"]
    verified: bool = Field(description="Asserted by the eID service rather than typed in.")


class ProfileRead(BaseModel):
    id: uuid.UUID
    provider: str
    level: Literal["low", "substantial", "high"] = Field(
        description="Level of assurance of the current sign-in."
    )
    attributes: list[AttributeRead]


class SessionRead(BaseModel):
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    level: Literal["low", "substantial", "high"] | None


class DataExportRead(BaseModel):
    """Everything stored about the citizen's account (GDPR Art. 15 and 20)."""

    account: ProfileRead
    created_at: datetime
    last_login_at: datetime
    sessions: list[SessionRead]


class RoleGrantRead(BaseModel):
    role: Literal["clerk", "supervisor", "admin", "branch_staff"]
    scope_type: Literal["department", "branch", "global"]
    scope_id: uuid.UUID | None


class StaffProfileRead(BaseModel):
    id: uuid.UUID
    display_name: str
    email: str | None
    roles: list[RoleGrantRead]


class ClientCreate(BaseModel):
    name: str = Field(min_length=3, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=20)


class ClientRead(BaseModel):
    id: uuid.UUID
    client_id: str
    name: str
    scopes: list[str]
    active: bool
    created_at: datetime
    revoked_at: datetime | None


class ClientWithSecret(ClientRead):
    client_secret: str = Field(description="Shown once. Only a hash is stored.")
