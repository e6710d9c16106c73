from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.principal import AssuranceLevel, ClientScope, Role, ScopeType
from app.identity.clients import ClientStatus


class ProviderRead(BaseModel):
    id: str = Field(description="Use in the sign-in path, e.g. `/api/v1/auth/{id}/login`.")
    display_name: str = Field(examples=["BundID"])
    protocol: str = Field(examples=["oidc"])
    max_level: AssuranceLevel = Field(description="The highest level this provider can assert.")
    attributes: list[str] = Field(description="TR-03130 attribute names the provider can assert.")


class TokenResponse(BaseModel):
    access_token: str = Field(description="RS256 JWT; send as `Authorization: Bearer …`.")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str | None = Field(
        default=None, description="Single use: each refresh returns a new one."
    )
    level: AssuranceLevel | None = Field(
        default=None, description="Level of assurance of a citizen's sign-in."
    )
    scope: str | None = Field(default=None, description="Granted client scopes, space-separated.")


class JsonWebKey(BaseModel):
    model_config = ConfigDict(extra="allow")

    kty: str = Field(examples=["RSA"])
    kid: str
    use: Literal["sig"]
    alg: str = Field(examples=["RS256"])


class JwksRead(BaseModel):
    """A JSON Web Key Set (RFC 7517)."""

    keys: list[JsonWebKey]


class AttributeRead(BaseModel):
    name: str = Field(description="TR-03130 name, e.g. `FamilyNames`, `DateOfBirth`.")
    value: Any = Field(
        description="A string; `DateOfBirth` may be partial (`1964`, `1964-08`); "
        "`PlaceOfResidence` is `{street, postal_code, locality, country}` or `{free_text}`."
    )
    level: AssuranceLevel
    verified: bool = Field(description="Asserted by the eID service rather than typed in.")


class ProfileRead(BaseModel):
    id: uuid.UUID
    provider: str
    level: AssuranceLevel = Field(description="Level of assurance of the current sign-in.")
    attributes: list[AttributeRead]


class SessionRead(BaseModel):
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    level: AssuranceLevel | None


class DataExportRead(BaseModel):
    """Everything stored about the citizen's account (GDPR Art. 15 and 20)."""

    account: ProfileRead
    created_at: datetime
    last_login_at: datetime
    sessions: list[SessionRead]


class RoleGrantRead(BaseModel):
    role: Role
    scope_type: ScopeType
    scope_id: uuid.UUID | None = Field(description="The department or branch; null if global.")


class StaffProfileRead(BaseModel):
    id: uuid.UUID
    display_name: str
    email: str | None
    roles: list[RoleGrantRead]


class ClientCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Fachverfahren Jugendamt", "scopes": ["applications:read"]}]
        },
    )

    name: str = Field(min_length=3, max_length=200, description="Who runs the client.")
    scopes: list[ClientScope] = Field(min_length=1, max_length=20)


class ClientRead(BaseModel):
    id: uuid.UUID
    client_id: str = Field(description="The public id to authenticate with.", examples=["cl_…"])
    name: str
    scopes: list[ClientScope]
    status: ClientStatus
    active: bool = Field(description="Whether the client may get tokens (status `active`).")
    created_at: datetime
    revoked_at: datetime | None


class ClientWithSecret(ClientRead):
    client_secret: str = Field(description="Shown once. Only a hash is stored.")
