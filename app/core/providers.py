"""One registry pattern for pluggable providers: identity adapters, mail transports, and later
payment providers, file storage and malware scanners.

The domain that owns a kind of provider declares a `ProviderCatalog` and registers each
provider in it, saying whether it is for development only. A setting names the enabled ones.
Production refuses a development-only provider from that one flag, with one line naming the
setting, so no list of development-only ids is kept anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.core.config import ConfigurationError, Environment, Settings, UnsafeProductionSettings

T = TypeVar("T")
D = TypeVar("D")

Factory = Callable[[Settings, D], T]


class UnknownProviderSetting(ConfigurationError):
    """A setting names a provider that no catalog entry and no configuration provides."""


@dataclass(frozen=True, slots=True)
class ProviderEntry(Generic[T, D]):
    id: str
    factory: Factory[D, T]
    dev_only: bool


@dataclass(frozen=True, slots=True)
class ConfiguredProviders(Generic[T, D]):
    """Providers whose ids come from configuration (e.g. each entry of RATHAUS_OIDC_PROVIDERS)."""

    ids: Callable[[Settings], Collection[str]]
    factory: Callable[[Settings, D, str], T]


class ProviderCatalog(Generic[T, D]):
    """The providers of one kind. `D` is what their factories need besides the settings
    (an HTTP client, say), so that tests can hand in their own."""

    def __init__(self, kind: str, setting: str) -> None:
        self.kind = kind
        self.setting = setting
        self._entries: dict[str, ProviderEntry[T, D]] = {}
        self._configured: list[ConfiguredProviders[T, D]] = []

    def register(
        self, provider_id: str, *, dev_only: bool = False
    ) -> Callable[[Factory[D, T]], Factory[D, T]]:
        def add(factory: Factory[D, T]) -> Factory[D, T]:
            if provider_id in self._entries:
                raise ValueError(f"{self.kind} {provider_id!r} is registered twice")
            self._entries[provider_id] = ProviderEntry(provider_id, factory, dev_only)
            return factory

        return add

    def configured(
        self,
        ids: Callable[[Settings], Collection[str]],
        factory: Callable[[Settings, D, str], T],
    ) -> None:
        """Providers described in the settings; never development-only."""
        self._configured.append(ConfiguredProviders(ids, factory))

    def dev_only(self, provider_id: str) -> bool:
        entry = self._entries.get(provider_id)
        return entry is not None and entry.dev_only

    def production_problem(self, settings: Settings, enabled: Sequence[str]) -> str | None:
        """One line naming the setting if production enables a development-only provider."""
        if settings.env is not Environment.production:
            return None
        dev_only = sorted({p for p in enabled if self.dev_only(p)})
        if not dev_only:
            return None
        return f"{self.setting} enables development-only providers: {', '.join(dev_only)}."

    def build(self, settings: Settings, enabled: Sequence[str], dependencies: D) -> dict[str, T]:
        """The enabled providers by id; refuses unknown ids and, in production, dev-only ones."""
        problem = self.production_problem(settings, enabled)
        if problem is not None:
            raise UnsafeProductionSettings(f"Refusing to start: {problem}")
        return {
            provider_id: self._build_one(settings, provider_id, dependencies)
            for provider_id in enabled
        }

    def _build_one(self, settings: Settings, provider_id: str, dependencies: D) -> T:
        entry = self._entries.get(provider_id)
        if entry is not None:
            return entry.factory(settings, dependencies)
        for configured in self._configured:
            if provider_id in configured.ids(settings):
                return configured.factory(settings, dependencies, provider_id)
        known = sorted(self._entries)
        raise UnknownProviderSetting(
            f"{self.setting} names {provider_id!r}, which is no {self.kind}"
            f" (known: {', '.join(known)}"
            + (", or an id configured in the settings)." if self._configured else ").")
        )
