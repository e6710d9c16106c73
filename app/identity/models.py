"""Accounts, logins in progress, sessions and tokens, staff roles and integrator clients."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import EMAIL_LENGTH, Base, UUIDPrimaryKey, utcnow


class CitizenAccount(UUIDPrimaryKey, Base):
    """Keyed by a namespaced pseudonym (adapter, issuer, subject), never by name and birth date."""

    __tablename__ = "citizen_accounts"
    __table_args__ = (UniqueConstraint("provider", "issuer", "subject"),)

    provider: Mapped[str] = mapped_column(String(50))
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    level: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime] = mapped_column(default=utcnow)


class CitizenAttribute(UUIDPrimaryKey, Base):
    """One person attribute with the level it was asserted at; only what services need."""

    __tablename__ = "citizen_attributes"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("citizen_accounts.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(50))
    value: Mapped[Any] = mapped_column(JSON)
    level: Mapped[int] = mapped_column()
    verified: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffUser(UUIDPrimaryKey, Base):
    __tablename__ = "staff_users"
    __table_args__ = (UniqueConstraint("provider", "issuer", "subject"),)

    provider: Mapped[str] = mapped_column(String(50))
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    status: Mapped[str] = mapped_column(String(20), default="active")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class StaffRoleGrant(UUIDPrimaryKey, Base):
    """A role in one scope: a department, a branch, or everything (`scope_type` = `global`)."""

    __tablename__ = "staff_role_grants"
    __table_args__ = (UniqueConstraint("staff_user_id", "role", "scope_type", "scope_id"),)

    staff_user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(30))
    scope_type: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[uuid.UUID | None] = mapped_column()


class ApiClient(UUIDPrimaryKey, Base):
    """An integrator's machine client (OAuth2 client credentials); the secret is only hashed."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A kiosk's branch: a client with the scope `appointments:tickets` draws tickets only there.
    branch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("branches.id"))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class LoginAttempt(UUIDPrimaryKey, Base):
    """A login between redirect and callback; consumed once by a guarded UPDATE."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index(None, "expires_at"),)

    state: Mapped[str] = mapped_column(String(100), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(200))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    return_to: Mapped[str] = mapped_column(String(500))
    client_state: Mapped[str | None] = mapped_column(String(200))
    code_challenge: Mapped[str] = mapped_column(String(100))
    required_level: Mapped[int] = mapped_column()
    attributes: Mapped[list[str]] = mapped_column(JSON, default=list)
    required_attributes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    consumed_at: Mapped[datetime | None] = mapped_column()


class AuthSession(UUIDPrimaryKey, Base):
    """One signed-in session; its refresh tokens form a family. Revoking it signs out."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index(None, "expires_at"),)

    principal_type: Mapped[str] = mapped_column(String(20))
    principal_id: Mapped[uuid.UUID] = mapped_column()
    level: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(50))
    provider: Mapped[str | None] = mapped_column(String(50))
    """The identity provider the person signed in with (None for sessions from before)."""
    provider_logout_hint: Mapped[str | None] = mapped_column(Text)
    """The provider's ID token, sealed (`app.core.sealing`), as `id_token_hint` for logging
    out at the provider too; cleared as soon as the session ends."""


class AuthorizationCode(UUIDPrimaryKey, Base):
    """The one-time code handed to `return_to`, bound to the frontend's PKCE challenge."""

    __tablename__ = "authorization_codes"
    __table_args__ = (Index(None, "expires_at"),)

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE")
    )
    code_challenge: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column()
    consumed_at: Mapped[datetime | None] = mapped_column()


class RefreshToken(UUIDPrimaryKey, Base):
    """Stored hashed; rotated on every use. Presenting a rotated one revokes the session."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index(None, "session_id"), Index(None, "expires_at"))

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE")
    )
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    rotated_at: Mapped[datetime | None] = mapped_column()
