"""Levels of assurance: their order, the vocabularies providers send, and failing closed."""

from __future__ import annotations

import pytest

from app.core.principal import LevelOfAssurance
from app.identity.loa import UnknownLevel, parse_level


def test_levels_are_ordered_low_substantial_high() -> None:
    low, substantial, high = (
        LevelOfAssurance.low,
        LevelOfAssurance.substantial,
        LevelOfAssurance.high,
    )

    assert low < substantial < high
    assert sorted([high, low, substantial]) == [low, substantial, high]
    assert max(low, high, substantial) is high


def test_each_level_names_its_eidas_uri() -> None:
    assert [level.eidas_uri for level in LevelOfAssurance] == [
        "http://eidas.europa.eu/LoA/low",
        "http://eidas.europa.eu/LoA/substantial",
        "http://eidas.europa.eu/LoA/high",
    ]


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("http://eidas.europa.eu/LoA/low", LevelOfAssurance.low),
        ("http://eidas.europa.eu/LoA/substantial", LevelOfAssurance.substantial),
        ("http://eidas.europa.eu/LoA/high", LevelOfAssurance.high),
        ("http://eidas.europa.eu/loa/HIGH", LevelOfAssurance.high),
        ("http://bsi.bund.de/eid/loa/normal", LevelOfAssurance.low),
        ("http://bsi.bund.de/eid/loa/substantiell", LevelOfAssurance.substantial),
        ("http://bsi.bund.de/eid/loa/hoch", LevelOfAssurance.high),
        ("STORK-QAA-Level-1", LevelOfAssurance.low),
        ("STORK-QAA-Level-2", LevelOfAssurance.low),
        ("STORK-QAA-Level-3", LevelOfAssurance.substantial),
        ("STORK-QAA-Level-4", LevelOfAssurance.high),
        ("stork-qaa-level-4", LevelOfAssurance.high),
        ("  STORK-QAA-Level-3\n", LevelOfAssurance.substantial),
    ],
)
def test_eidas_bsi_and_stork_values_map_to_our_levels(value: str, level: LevelOfAssurance) -> None:
    assert parse_level(value) is level


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("urn:unbekannt:vertrauensniveau", id="unknown-uri"),
        pytest.param("http://eidas.europa.eu/LoA/", id="eidas-prefix-only"),
        pytest.param("http://eidas.europa.eu/LoA/highest", id="eidas-lookalike"),
        pytest.param("STORK-QAA-Level-5", id="stork-level-5"),
        pytest.param("high", id="our-own-name"),
        pytest.param(3, id="number"),
        pytest.param(["http://eidas.europa.eu/LoA/high"], id="list"),
        pytest.param({"level": "high"}, id="object"),
    ],
)
def test_unknown_level_fails_closed(value: object) -> None:
    with pytest.raises(UnknownLevel):
        parse_level(value)


def test_custom_mapping_names_a_providers_own_values() -> None:
    mapping = {"urn:stadt:vertrauensniveau:basis": "low", "urn:stadt:eid": "high"}

    assert parse_level("urn:stadt:vertrauensniveau:basis", mapping) is LevelOfAssurance.low
    assert parse_level(" urn:stadt:eid ", mapping) is LevelOfAssurance.high
    assert parse_level("STORK-QAA-Level-3", mapping) is LevelOfAssurance.substantial


def test_custom_mapping_overrides_the_standard_meaning_of_a_value() -> None:
    assert parse_level("STORK-QAA-Level-3", {"STORK-QAA-Level-3": "low"}) is LevelOfAssurance.low


def test_custom_mapping_to_a_level_that_does_not_exist_fails_closed() -> None:
    with pytest.raises(UnknownLevel):
        parse_level("urn:stadt:mittel", {"urn:stadt:mittel": "medium"})


def test_unknown_level_is_a_value_error() -> None:
    assert issubclass(UnknownLevel, ValueError)
