"""The enabled identity adapters, built from RATHAUS_IDENTITY_PROVIDERS through the catalog
every adapter registers in (`IDENTITY_PROVIDERS`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from app.core.config import Settings

# Each adapter module registers itself in the catalog when it is imported.
from app.identity.adapters import dev_login, mock_eid, oidc  # noqa: F401
from app.identity.adapters.base import IDENTITY_PROVIDERS, IdentityProvider, ProviderDescription
from app.identity.errors import UnknownProvider


@dataclass
class ProviderRegistry:
    providers: Mapping[str, IdentityProvider]

    def get(self, provider_id: str, *, for_staff: bool) -> IdentityProvider:
        provider = self.providers.get(provider_id)
        if provider is None or provider.description.for_staff is not for_staff:
            raise UnknownProvider()
        return provider

    def descriptions(self, *, for_staff: bool) -> list[ProviderDescription]:
        return [
            p.description for p in self.providers.values() if p.description.for_staff is for_staff
        ]


def build_registry(settings: Settings, http: httpx.AsyncClient | None = None) -> ProviderRegistry:
    return ProviderRegistry(IDENTITY_PROVIDERS.build(settings, settings.identity_providers, http))


def production_problems(settings: Settings) -> list[str]:
    problem = IDENTITY_PROVIDERS.production_problem(settings, settings.identity_providers)
    return [problem] if problem else []
