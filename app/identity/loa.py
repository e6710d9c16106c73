"""Providers' vocabularies for the level of assurance (Vertrauensniveau), mapped to ours.

The level itself (`LevelOfAssurance`) is core vocabulary; unknown values fail closed.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.core.principal import LevelOfAssurance


class UnknownLevel(ValueError):
    """A level value no mapping knows; such a login is refused."""


_KNOWN: dict[str, LevelOfAssurance] = {
    # eIDAS (Implementing Regulation 2015/1502)
    "http://eidas.europa.eu/loa/low": LevelOfAssurance.low,
    "http://eidas.europa.eu/loa/substantial": LevelOfAssurance.substantial,
    "http://eidas.europa.eu/loa/high": LevelOfAssurance.high,
    # BSI TR-03130 / TR-03107 eID levels
    "http://bsi.bund.de/eid/loa/normal": LevelOfAssurance.low,
    "http://bsi.bund.de/eid/loa/substantiell": LevelOfAssurance.substantial,
    "http://bsi.bund.de/eid/loa/hoch": LevelOfAssurance.high,
    # STORK QAA levels, as BundID still sends them (1 and 2 are below substantial)
    "stork-qaa-level-1": LevelOfAssurance.low,
    "stork-qaa-level-2": LevelOfAssurance.low,
    "stork-qaa-level-3": LevelOfAssurance.substantial,
    "stork-qaa-level-4": LevelOfAssurance.high,
}


def parse_level(value: object, extra: Mapping[str, str] | None = None) -> LevelOfAssurance:
    """Map a provider's level value to ours. `extra` maps provider-specific values to names.

    `value` is whatever the token carried: anything but a known string is refused.
    """
    if not isinstance(value, str) or not value.strip():
        raise UnknownLevel("no level of assurance given")
    key = value.strip()
    if extra and key in extra:
        try:
            return LevelOfAssurance[extra[key]]
        except KeyError as exc:
            raise UnknownLevel(f"mapping names an unknown level: {extra[key]!r}") from exc
    level = _KNOWN.get(key.lower())
    if level is None:
        raise UnknownLevel(f"unknown level of assurance: {value!r}")
    return level
