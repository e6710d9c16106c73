"""Which identity adapters are enabled, from RATHAUS_IDENTITY_PROVIDERS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from app.core.config import ConfigurationError, Settings
from app.identity.adapters.base import IdentityProvider, ProviderDescription
from app.identity.adapters.dev_login import DevLoginProvider
from app.identity.adapters.mock_eid import MockEidProvider
from app.identity.adapters.oidc import OidcProvider
from app.identity.errors import UnknownProvider


class UnknownProviderSetting(ConfigurationError):
    """RATHAUS_IDENTITY_PROVIDERS names an adapter that is not configured."""


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
    configured_oidc = {p.id: p for p in settings.oidc_providers}
    providers: dict[str, IdentityProvider] = {}
    for provider_id in settings.identity_providers:
        if provider_id == "mock-eid":
            providers[provider_id] = MockEidProvider(settings.public_base_url, settings.secret_key)
        elif provider_id == "dev-login":
            providers[provider_id] = DevLoginProvider(settings.public_base_url, settings.secret_key)
        elif provider_id in configured_oidc:
            providers[provider_id] = OidcProvider(
                configured_oidc[provider_id],
                http or httpx.AsyncClient(timeout=10.0),
                leeway_seconds=settings.jwt_leeway_seconds,
            )
        else:
            raise UnknownProviderSetting(
                f"RATHAUS_IDENTITY_PROVIDERS names {provider_id!r}, which is neither mock-eid, "
                "dev-login nor an id in RATHAUS_OIDC_PROVIDERS."
            )
    return ProviderRegistry(providers)
