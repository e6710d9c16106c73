from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.pagination import Page
from app.core.principal import AssuranceLevel, ClientScope, Role, ScopeType
from app.identity.clients import ClientStatus
from app.identity.staff import StaffStatus


class ProviderRead(BaseModel):
    id: str = Field(description="Use in the sign-in path, e.g. `/api/v1/auth/{id}/login`.")
    display_name: str = Field(examples=["BundID"])
    protocol: str = Field(examples=["oidc"])
    max_level: AssuranceLevel = Field(description="The highest level this provider can assert.")
    attributes: list[str] = Field(description="TR-03130 attribute names the provider can assert.")


class GrantType(StrEnum):
    authorization_code = "authorization_code"
    refresh_token = "refresh_token"  # noqa: S105 - a grant type, not a secret
    client_credentials = "client_credentials"


class TokenRequest(BaseModel):
    """The OAuth 2.0 token request (RFC 6749 §4.1.3, §6, §4.4), form-encoded."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "grant_type": "authorization_code",
                    "code": "k3J8…",
                    "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                },
                {"grant_type": "client_credentials", "scope": "departments:read"},
            ]
        }
    )

    grant_type: str = Field(
        max_length=50,
        description="`authorization_code`, `refresh_token` or `client_credentials`; any "
        "other value gets 400 `unsupported_grant_type`.",
        json_schema_extra={"enum": [g.value for g in GrantType]},
    )
    code: str | None = Field(
        default=None, max_length=200, description="The one-time code from the sign-in."
    )
    code_verifier: str | None = Field(
        default=None, max_length=200, description="The PKCE verifier of that sign-in."
    )
    refresh_token: str | None = Field(
        default=None, max_length=200, description="The latest refresh token of the session."
    )
    client_id: str | None = Field(
        default=None, max_length=64, description="A client's id, unless sent by HTTP Basic."
    )
    client_secret: str | None = Field(
        default=None, max_length=200, description="A client's secret, unless sent by HTTP Basic."
    )
    scope: str | None = Field(
        default=None,
        max_length=500,
        description="Space-separated client scopes; all granted ones when left out.",
    )


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


class LogoutRequest(BaseModel):
    """Where the provider should send the browser once it has ended its own session."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"return_to": "https://buergerportal.stadt.example/abgemeldet"}]
        },
    )

    return_to: str | None = Field(
        default=None,
        max_length=500,
        description="Sent to the provider as `post_logout_redirect_uri`: same rules as "
        "`return_to` at sign-in (`RATHAUS_AUTH_RETURN_TO_ALLOWLIST`), and registered at the "
        "provider as a valid post-logout redirect URI. Left out, the provider shows its own "
        "signed-out page.",
    )
    state: str | None = Field(
        default=None,
        max_length=200,
        description="Your own value; the provider returns it unchanged to `return_to`.",
    )


class LogoutResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "logout_url": "https://id.stadt.example/realms/buergerkonto/protocol/"
                    "openid-connect/logout?client_id=rathaus-buergerportal&id_token_hint=eyJ…"
                    "&post_logout_redirect_uri=https%3A%2F%2Fbuergerportal.stadt.example%2F"
                    "abgemeldet"
                },
                {"logout_url": None},
            ]
        }
    )

    logout_url: str | None = Field(
        description="Send the browser here (a top-level navigation, not a fetch) so that the "
        "identity provider ends its own login session too; otherwise the next person at a "
        "shared or kiosk browser is signed in as this one without seeing a login form. "
        "`null` when the provider keeps no session of its own (the development stand-ins) or "
        "offers no logout, or could not be reached: then tell the person to close the browser."
    )


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


class SessionPage(Page[SessionRead]):
    pass


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


class StaffUserRead(BaseModel):
    """A staff user as administrators see them."""

    id: uuid.UUID
    display_name: str
    email: str | None
    status: StaffStatus
    active: bool = Field(description="Whether the user may sign in (status `active`).")
    roles: list[RoleGrantRead] = Field(description="As granted at their last sign-in.")
    created_at: datetime
    last_login_at: datetime


class StaffUserPage(Page[StaffUserRead]):
    pass


class StaffProfileRead(BaseModel):
    id: uuid.UUID
    display_name: str
    email: str | None
    roles: list[RoleGrantRead]


class ClientCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "Fachverfahren Jugendamt", "scopes": ["applications:read"]},
                {
                    "name": "Ticketautomat Hörde",
                    "scopes": ["appointments:tickets"],
                    "branch_id": "0b7e1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4",
                },
            ],
            # A ticket kiosk belongs to one branch.
            "if": {
                "properties": {"scopes": {"contains": {"const": "appointments:tickets"}}},
                "required": ["scopes"],
            },
            "then": {
                "properties": {"branch_id": {"type": "string", "format": "uuid"}},
                "required": ["branch_id"],
            },
        },
    )

    name: str = Field(min_length=3, max_length=200, description="Who runs the client.")
    scopes: list[ClientScope] = Field(min_length=1, max_length=20)
    branch_id: uuid.UUID | None = Field(
        default=None,
        description="The branch the client serves. Required with `appointments:tickets`: a "
        "ticket kiosk draws walk-in tickets only at its own branch (422 "
        "`client-branch-required` without it; 404 `branch-not-found` for a branch that does "
        "not exist).",
    )


class ClientRead(BaseModel):
    id: uuid.UUID
    client_id: str = Field(description="The public id to authenticate with.", examples=["cl_…"])
    name: str
    scopes: list[ClientScope]
    branch_id: uuid.UUID | None = Field(description="The branch the client serves, if any.")
    status: ClientStatus
    active: bool = Field(description="Whether the client may get tokens (status `active`).")
    created_at: datetime
    revoked_at: datetime | None


class ClientPage(Page[ClientRead]):
    pass


class ClientWithSecret(ClientRead):
    client_secret: str = Field(description="Shown once. Only a hash is stored.")
