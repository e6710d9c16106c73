"""What the identity package needs from the running app, built once in `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from app.core.config import Settings
from app.core.db import Database
from app.core.sealing import Sealer
from app.identity.jwt import SigningKey
from app.identity.registry import ProviderRegistry


@dataclass(frozen=True)
class IdentityContext:
    settings: Settings
    registry: ProviderRegistry
    signing_key: SigningKey
    database: Database

    @property
    def issuer(self) -> str:
        return self.settings.public_base_url.rstrip("/")

    @property
    def logout_hints(self) -> Sealer:
        """Seals the ID tokens kept for logging out at the provider."""
        return Sealer(self.settings.secret_key, "provider-logout-hint")

    def callback_url(self, provider_id: str, *, for_staff: bool) -> str:
        middle = "auth/staff" if for_staff else "auth"
        return f"{self.issuer}/api/v1/{middle}/{provider_id}/callback"


async def identity_context(request: Request) -> IdentityContext:
    context: IdentityContext = request.app.state.identity
    return context
