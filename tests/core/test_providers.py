"""The provider registry: enabled by a setting, dev-only refused in production from one flag."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.core.config import Environment, Settings, UnsafeProductionSettings
from app.core.providers import ProviderCatalog, UnknownProviderSetting


@dataclass(frozen=True)
class Scanner:
    name: str
    endpoint: str


def scanners() -> ProviderCatalog[Scanner, str]:
    catalog: ProviderCatalog[Scanner, str] = ProviderCatalog(
        "malware scanner", "RATHAUS_MALWARE_SCANNERS"
    )

    @catalog.register("clamav")
    def clamav(settings: Settings, endpoint: str) -> Scanner:
        return Scanner("clamav", endpoint)

    @catalog.register("always-clean", dev_only=True)
    def always_clean(settings: Settings, endpoint: str) -> Scanner:
        return Scanner("always-clean", endpoint)

    catalog.configured(
        lambda settings: {"icap-city"}, lambda settings, endpoint, id_: Scanner(id_, endpoint)
    )
    return catalog


def settings_for(env: Environment) -> Settings:
    return Settings(env=env, database_url="sqlite+aiosqlite://")


def test_enabled_providers_are_built_with_their_dependencies() -> None:
    built = scanners().build(
        settings_for(Environment.development), ["clamav", "always-clean", "icap-city"], "tcp://x"
    )

    assert built == {
        "clamav": Scanner("clamav", "tcp://x"),
        "always-clean": Scanner("always-clean", "tcp://x"),
        "icap-city": Scanner("icap-city", "tcp://x"),
    }


def test_production_refuses_a_dev_only_provider_naming_the_setting() -> None:
    catalog = scanners()
    production = settings_for(Environment.production)

    assert catalog.production_problem(production, ["clamav", "always-clean"]) == (
        "RATHAUS_MALWARE_SCANNERS enables development-only providers: always-clean."
    )
    with pytest.raises(UnsafeProductionSettings, match="RATHAUS_MALWARE_SCANNERS"):
        catalog.build(production, ["always-clean"], "tcp://x")
    assert catalog.production_problem(production, ["clamav", "icap-city"]) is None
    assert catalog.production_problem(settings_for(Environment.test), ["always-clean"]) is None


def test_an_unknown_provider_id_is_refused_naming_the_setting() -> None:
    with pytest.raises(UnknownProviderSetting) as refused:
        scanners().build(settings_for(Environment.development), ["clamv"], "tcp://x")

    assert str(refused.value).startswith("RATHAUS_MALWARE_SCANNERS names 'clamv'")
    assert "always-clean, clamav" in str(refused.value)


def test_registering_one_id_twice_is_refused() -> None:
    catalog = scanners()

    with pytest.raises(ValueError, match="registered twice"):
        catalog.register("clamav")(lambda settings, endpoint: Scanner("x", endpoint))
