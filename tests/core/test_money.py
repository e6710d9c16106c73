"""Money: exact cents, arithmetic that refuses floats, German and English formatting."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.core.i18n import Language, current_language
from app.core.money import MAX_CENTS, AmountCents, Money, MoneyRead
from tests.conftest import client_for

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("cents", "german", "english"),
    [
        (1250, f"12,50{NBSP}€", "€12.50"),
        (123456, f"1.234,56{NBSP}€", "€1,234.56"),
        (0, f"0,00{NBSP}€", "€0.00"),
        (1, f"0,01{NBSP}€", "€0.01"),
        (10, f"0,10{NBSP}€", "€0.10"),
        (-1250, f"-12,50{NBSP}€", "-€12.50"),
        (-5, f"-0,05{NBSP}€", "-€0.05"),
        (100_000_000_00, f"100.000.000,00{NBSP}€", "€100,000,000.00"),
        (MAX_CENTS, f"92.233.720.368.547.758,07{NBSP}€", "€92,233,720,368,547,758.07"),
        (-MAX_CENTS, f"-92.233.720.368.547.758,07{NBSP}€", "-€92,233,720,368,547,758.07"),
    ],
)
def test_amount_is_formatted_to_the_cent_in_german_and_english(
    cents: int, german: str, english: str
) -> None:
    assert Money(cents).format(Language.de) == german
    assert Money(cents).format(Language.en) == english


def test_format_follows_the_request_language_by_default() -> None:
    assert Money(1250).format() == f"12,50{NBSP}€"
    token = current_language.set(Language.en)
    try:
        assert Money(1250).format() == "€12.50"
    finally:
        current_language.reset(token)


def test_ten_times_ten_cents_is_exactly_one_euro() -> None:
    dimes = [Money(10)] * 10

    assert sum(dimes, Money(0)) == Money(100)
    assert Money(10) * 10 == 10 * Money(10) == Money(100)
    assert sum(dimes, Money(0)).format(Language.de) == f"1,00{NBSP}€"


def test_adding_and_multiplying_keep_the_currency_and_sign() -> None:
    assert Money(1250) + Money(-250) == Money(1000)
    assert Money(1250) * -1 == Money(-1250)
    assert Money(1250) * 0 == Money(0)
    assert sum([], Money(0)) == Money(0)


@pytest.mark.parametrize(
    "cents",
    [12.5, 12.0, Decimal("12.50"), "1250", True, None],
    ids=["float", "whole-float", "decimal", "string", "bool", "none"],
)
def test_money_refuses_anything_but_whole_cents(cents: Any) -> None:
    with pytest.raises(TypeError):
        Money(cents)


@pytest.mark.parametrize(
    "other",
    [1.5, 2.0, True, Decimal(2), "2"],
    ids=["float", "whole-float", "bool", "decimal", "string"],
)
def test_multiplying_by_anything_but_an_int_is_refused(other: Any) -> None:
    with pytest.raises(TypeError):
        Money(1250) * other
    with pytest.raises(TypeError):
        other * Money(1250)


@pytest.mark.parametrize("other", [1, 0.5, Decimal(1)], ids=["int", "float", "decimal"])
def test_adding_a_plain_number_is_refused(other: Any) -> None:
    with pytest.raises(TypeError):
        Money(1250) + other
    with pytest.raises(TypeError):
        other + Money(1250)


def test_adding_another_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="CHF"):
        Money(1250) + Money(1250, "CHF")


@pytest.mark.parametrize("currency", ["JPY", "XYZ", "eur", "€"])
def test_currency_without_cents_or_unknown_is_refused(currency: str) -> None:
    with pytest.raises(ValueError, match="currency"):
        Money(100, currency)


def test_amount_beyond_a_bigint_is_refused() -> None:
    with pytest.raises(ValueError, match="largest"):
        Money(MAX_CENTS + 1)
    with pytest.raises(ValueError, match="largest"):
        Money(MAX_CENTS) + Money(1)


def test_money_cannot_be_changed_after_creation() -> None:
    fee = Money(1250)

    with pytest.raises(dataclasses.FrozenInstanceError):
        fee.cents = 1  # type: ignore[misc]


# For the API


def test_money_read_gives_exact_cents_and_the_formatted_amount() -> None:
    fee = Money(123456)

    assert MoneyRead.from_money(fee, Language.de).model_dump() == {
        "amount_cents": 123456,
        "currency": "EUR",
        "formatted": f"1.234,56{NBSP}€",
    }
    assert MoneyRead.from_money(fee, Language.en).formatted == "€1,234.56"


def test_money_read_is_documented_with_a_true_example() -> None:
    schema = MoneyRead.model_json_schema()

    assert all(field.get("description") for field in schema["properties"].values())
    example = MoneyRead.model_validate(schema["examples"][0])
    assert example == MoneyRead.from_money(Money(example.amount_cents), Language.de)


class FeeCreate(BaseModel):
    fee_cents: AmountCents


ADAPTER = TypeAdapter(AmountCents)


@pytest.mark.parametrize("value", [0, 1250, MAX_CENTS])
def test_amount_input_takes_whole_cents(value: int) -> None:
    assert ADAPTER.validate_json(str(value)) == value
    assert ADAPTER.validate_python(value) == value


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        ('"12"', "int_type"),
        ("12.0", "int_type"),
        ("12.5", "int_type"),
        ("true", "int_type"),
        ("null", "int_type"),
        ("-1", "greater_than_equal"),
        (str(MAX_CENTS + 1), "less_than_equal"),
    ],
)
def test_amount_input_refuses_strings_floats_bools_and_negatives(sent: str, error: str) -> None:
    for validate in (
        lambda: ADAPTER.validate_json(sent),
        lambda: FeeCreate.model_validate_json(f'{{"fee_cents": {sent}}}'),
    ):
        with pytest.raises(ValidationError) as refused:
            validate()
        assert [e["type"] for e in refused.value.errors()] == [error]


fee_router = APIRouter()


@fee_router.post("/test-fees", status_code=201)
async def create_test_fee(body: FeeCreate) -> MoneyRead:
    return MoneyRead.from_money(Money(body.fee_cents))


@pytest.fixture
async def fee_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(fee_router)
    async with client_for(app) as client:
        yield client


async def test_fee_in_cents_comes_back_formatted_in_the_request_language(
    fee_client: httpx.AsyncClient,
) -> None:
    german = await fee_client.post("/test-fees", json={"fee_cents": 1250})
    english = await fee_client.post(
        "/test-fees", json={"fee_cents": 1250}, headers={"Accept-Language": "en"}
    )

    assert german.status_code == english.status_code == 201
    assert german.json() == {"amount_cents": 1250, "currency": "EUR", "formatted": f"12,50{NBSP}€"}
    assert english.json()["formatted"] == "€12.50"


@pytest.mark.parametrize("sent", ['"1250"', "12.5", "1250.0", "true"])
async def test_fee_as_text_decimal_or_bool_gets_422_in_german(
    fee_client: httpx.AsyncClient, sent: str
) -> None:
    response = await fee_client.post(
        "/test-fees",
        content=f'{{"fee_cents": {sent}}}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"pointer": "#/fee_cents", "detail": "Erwartet wird eine ganze Zahl."}
    ]
