"""TR-03130 person attributes: partial dates of birth, places of residence, plain text."""

from __future__ import annotations

from typing import Any

import pytest

from app.identity.attributes import Attribute, MalformedAttribute, PartialDate, normalise


@pytest.mark.parametrize(
    ("text", "date", "iso"),
    [
        ("1964-08-12", PartialDate(1964, 8, 12), "1964-08-12"),
        ("1964-08", PartialDate(1964, 8), "1964-08"),
        ("1964", PartialDate(1964), "1964"),
        ("19640812", PartialDate(1964, 8, 12), "1964-08-12"),
        ("19640800", PartialDate(1964, 8), "1964-08"),
        ("19640000", PartialDate(1964), "1964"),
        ("1964-02-29", PartialDate(1964, 2, 29), "1964-02-29"),
        (" 1964-08 \n", PartialDate(1964, 8), "1964-08"),
    ],
)
def test_date_of_birth_forms_parse_to_the_same_partial_date(
    text: str, date: PartialDate, iso: str
) -> None:
    parsed = PartialDate.parse(text)

    assert parsed == date
    assert parsed.isoformat() == iso


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("64", id="two-digit-year"),
        pytest.param("1964-8", id="one-digit-month"),
        pytest.param("1964-08-1", id="one-digit-day"),
        pytest.param("12.08.1964", id="german-notation"),
        pytest.param("1964/08/12", id="slashes"),
        pytest.param("1964-08-12T00:00:00", id="datetime"),
        pytest.param("1964-13", id="month-13"),
        pytest.param("1964-00", id="month-0-in-iso-form"),
        pytest.param("19641300", id="month-13-in-tr-form"),
        pytest.param("1964-04-31", id="31-april"),
        pytest.param("19640230", id="30-february"),
        pytest.param("1963-02-29", id="29-february-of-a-common-year"),
        pytest.param("19640012", id="day-without-month"),
        pytest.param("0000", id="year-0"),
        pytest.param("١٩٦٤", id="non-ascii-digits"),
        pytest.param("1964xx", id="card-placeholder"),
    ],
)
def test_malformed_date_of_birth_raises(text: str) -> None:
    with pytest.raises(MalformedAttribute):
        PartialDate.parse(text)


def test_partial_date_with_a_day_but_no_month_raises() -> None:
    with pytest.raises(MalformedAttribute, match="a day needs a month"):
        PartialDate(1964, None, 12)


def test_date_of_birth_attribute_is_stored_as_partial_iso_date() -> None:
    assert normalise(Attribute.date_of_birth, "19640800") == "1964-08"
    assert normalise(Attribute.date_of_birth, "19580000") == "1958"


@pytest.mark.parametrize("raw", [19640812, None, ["1964-08-12"]])
def test_date_of_birth_that_is_not_text_raises(raw: Any) -> None:
    with pytest.raises(MalformedAttribute):
        normalise(Attribute.date_of_birth, raw)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        pytest.param(
            {
                "street": "Heidestraße 17",
                "postal_code": "51147",
                "locality": "Köln",
                "country": "D",
            },
            {
                "street": "Heidestraße 17",
                "postal_code": "51147",
                "locality": "Köln",
                "country": "D",
            },
            id="tr-03130-structure",
        ),
        pytest.param(
            {
                "street_address": "Heidestraße 17",
                "postal_code": "51147",
                "locality": "Köln",
                "country": "D",
                "formatted": "Heidestraße 17\n51147 Köln",
            },
            {
                "street": "Heidestraße 17",
                "postal_code": "51147",
                "locality": "Köln",
                "country": "D",
            },
            id="oidc-address-claim",
        ),
        pytest.param(
            {"street": " Hansastraße 7 ", "zip_code": "44137", "city": "Dortmund"},
            {"street": "Hansastraße 7", "postal_code": "44137", "locality": "Dortmund"},
            id="zip-code-and-city",
        ),
        pytest.param(
            {"locality": "Köln", "street": "", "postal_code": None},
            {"locality": "Köln"},
            id="empty-fields-left-out",
        ),
    ],
)
def test_structured_place_of_residence_is_stored_structured(
    raw: dict[str, Any], stored: dict[str, str]
) -> None:
    assert normalise(Attribute.place_of_residence, raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("keine Hauptwohnung in Deutschland", id="text"),
        pytest.param({"free_text": "keine Hauptwohnung in Deutschland"}, id="free-text-field"),
        pytest.param({"formatted": "keine Hauptwohnung in Deutschland"}, id="oidc-formatted"),
        pytest.param(
            {"country": "D", "free_text": "keine Hauptwohnung in Deutschland"},
            id="free-text-without-locality",
        ),
    ],
)
def test_free_text_place_of_residence_is_stored_as_free_text(raw: Any) -> None:
    assert normalise(Attribute.place_of_residence, raw) == {
        "free_text": "keine Hauptwohnung in Deutschland"
    }


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty-text"),
        pytest.param("   ", id="blank-text"),
        pytest.param("x" * 501, id="text-too-long"),
        pytest.param(51147, id="number"),
        pytest.param(["Köln"], id="list"),
        pytest.param(None, id="null"),
        pytest.param({}, id="empty-object"),
        pytest.param({"street": "Heidestraße 17", "postal_code": "51147"}, id="no-locality"),
        pytest.param({"locality": ""}, id="empty-locality"),
        pytest.param({"locality": "Köln", "postal_code": 51147}, id="postal-code-a-number"),
        pytest.param({"locality": {"name": "Köln"}}, id="locality-an-object"),
        pytest.param({"free_text": None, "formatted": None}, id="free-text-null"),
    ],
)
def test_malformed_place_of_residence_raises(raw: Any) -> None:
    with pytest.raises(MalformedAttribute):
        normalise(Attribute.place_of_residence, raw)


@pytest.mark.parametrize(("raw", "stored"), [("D", "D"), ("d", "D"), (" DEU ", "DEU")])
def test_nationality_is_an_upper_case_icao_code(raw: str, stored: str) -> None:
    assert normalise(Attribute.nationality, raw) == stored


@pytest.mark.parametrize("raw", ["deutsch", "D1", "", 276, None])
def test_malformed_nationality_raises(raw: Any) -> None:
    with pytest.raises(MalformedAttribute):
        normalise(Attribute.nationality, raw)


def test_names_are_stored_trimmed() -> None:
    assert normalise(Attribute.given_names, "  Erika  ") == "Erika"
    assert normalise(Attribute.family_names, "Müller-Lüdenscheidt") == "Müller-Lüdenscheidt"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("x" * 501, id="too-long"),
        pytest.param(None, id="null"),
        pytest.param(42, id="number"),
        pytest.param(["Erika"], id="list"),
        pytest.param({"de": "Erika"}, id="object"),
    ],
)
def test_malformed_name_raises_instead_of_being_stringified(raw: Any) -> None:
    with pytest.raises(MalformedAttribute):
        normalise(Attribute.given_names, raw)
