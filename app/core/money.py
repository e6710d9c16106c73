"""Money as an integer number of cents, shown to people in German or English with Babel.

Amounts are never floats: 0.1 + 0.2 is not 0.3 in binary floating point, and a fee must add
up to the cent. Formatting hands Babel an exact `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Annotated

from babel import Locale
from babel.numbers import format_currency, get_currency_precision, is_currency
from pydantic import BaseModel, ConfigDict, Field, Strict

from app.core.i18n import Language, current_language

MAX_CENTS = 2**63 - 1
"""The largest amount a BIGINT column holds; larger amounts are refused, not truncated."""

_LOCALES = {Language.de: Locale.parse("de_DE"), Language.en: Locale.parse("en_GB")}


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in cents (1250 is 12.50 €). Negative amounts are refunds.

    Add two amounts of one currency, multiply by a whole number, and total a list with
    `sum(amounts, Money(0))`. Floats, bools and decimals are refused with a `TypeError`.
    """

    cents: int
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if isinstance(self.cents, bool) or not isinstance(self.cents, int):
            raise TypeError(f"Money needs whole cents as an int, not {type(self.cents).__name__}")
        if abs(self.cents) > MAX_CENTS:
            raise ValueError(f"{self.cents} cents exceed the largest storable amount")
        if not _counts_in_cents(self.currency):
            raise ValueError(f"{self.currency!r} is not an ISO 4217 currency with cents")

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.cents + other.cents, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Money(self.cents * factor, self.currency)

    __rmul__ = __mul__

    def format(self, language: Language | None = None) -> str:
        """`12,50 €` in German, `€12.50` in English; the request's language by default.

        German puts a non-breaking space (U+00A0) before the sign, so that a line never
        breaks between amount and currency.
        """
        amount = Decimal(self.cents).scaleb(-2)
        locale = _LOCALES[language or current_language.get()]
        return format_currency(amount, self.currency, locale=locale)


@cache
def _counts_in_cents(currency: str) -> bool:
    return is_currency(currency) and get_currency_precision(currency) == 2


AmountCents = Annotated[
    int,
    Strict(),
    Field(
        ge=0,
        le=MAX_CENTS,
        description="An amount in cents as a JSON integer, e.g. `1250` for 12.50 €. "
        "Strings, decimals and booleans are refused.",
        examples=[1250],
    ),
]
"""An amount a client sends: whole cents, zero or more; `"12"`, `12.0` and `true` get a 422."""


class MoneyRead(BaseModel):
    """An amount of money: calculate with `amount_cents`, show `formatted`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"amount_cents": 123456, "currency": "EUR", "formatted": "1.234,56\u00a0€"}
            ]
        }
    )

    amount_cents: int = Field(
        description="The exact amount in cents: `1250` is 12.50 €. Negative for refunds.",
        examples=[1250],
    )
    currency: str = Field(description="ISO 4217 currency code.", examples=["EUR"])
    formatted: str = Field(
        description="The amount for people, in the response's language (`Content-Language`): "
        "`1.234,56 €` in German, `€1,234.56` in English. German puts a non-breaking space "
        "(U+00A0) before €. For display only; never parse it.",
        examples=["12,50\u00a0€"],
    )

    @classmethod
    def from_money(cls, money: Money, language: Language | None = None) -> MoneyRead:
        return cls(
            amount_cents=money.cents, currency=money.currency, formatted=money.format(language)
        )
