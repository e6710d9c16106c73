"""Schemas and field types shared by several domains."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from app.core.db import EMAIL_LENGTH


class LocalizedText(BaseModel):
    """A text in German and English; clients pick the one their user reads."""

    de: str = Field(examples=["Jugendamt"])
    en: str = Field(examples=["Youth Welfare Office"])


class LocalizedName(BaseModel):
    """A name in German and English, as a department or service is called; both required."""

    model_config = ConfigDict(extra="forbid")

    de: str = Field(min_length=1, max_length=200, examples=["Jugendamt"])
    en: str = Field(min_length=1, max_length=200, examples=["Youth Welfare Office"])


def email_address(value: str) -> str:
    """The address in its normalised form; the validator's own (English) reason stays out of
    the problem, which says in the caller's language what is expected."""
    try:
        # Syntax, and a domain that can receive mail: no special-use ones such as `.test` or
        # `.local`. No DNS lookups.
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise PydanticCustomError("email_invalid", "not a valid e-mail address") from exc


EmailAddress = Annotated[
    str,
    Field(
        max_length=EMAIL_LENGTH,
        json_schema_extra={"format": "email"},
        description="An e-mail address (RFC 5322) at a domain that can receive mail; "
        "special-use domains such as `.test`, `.local` or `.invalid` are refused.",
        examples=["buergerdienste@stadt.example"],
    ),
    AfterValidator(email_address),
]


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_text(value: Any) -> Any:
    """Only `YYYY-MM-DD`, as `format: date` says: no number read as Unix time (`0` would be
    1 January 1970). Python callers may pass a date."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_parsing", "Input should be a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]
"""A calendar date given as `YYYY-MM-DD`, e.g. in a query."""
