"""Person attributes, named as in BSI TR-03130, each with the level it was asserted at."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email

from app.core.principal import LevelOfAssurance


class Attribute(StrEnum):
    family_names = "FamilyNames"
    given_names = "GivenNames"
    birth_name = "BirthName"
    date_of_birth = "DateOfBirth"
    place_of_birth = "PlaceOfBirth"
    place_of_residence = "PlaceOfResidence"
    nationality = "Nationality"
    email = "email"


class MalformedAttribute(ValueError):
    """A value that is not what the attribute may hold; the login that carried it fails."""


_PARTIAL_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_TR_03130_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
MAX_TEXT_LENGTH = 500


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date of birth whose month or day may be unknown (as printed "xx" on the card)."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if self.day is not None and self.month is None:
            raise MalformedAttribute("a day needs a month")
        month = 1 if self.month is None else self.month
        day = 1 if self.day is None else self.day
        try:
            date(self.year, month, day)
        except ValueError as exc:  # month 13, 31 April, 29 February of a common year, year 0 …
            raise MalformedAttribute(str(exc)) from None

    @classmethod
    def parse(cls, value: str) -> PartialDate:
        """Accept `1964-08-12`, `1964-08`, `1964`, and TR-03130's `19640812` / `19640800` /
        `19640000` (zeros for what the card leaves unknown)."""
        text = value.strip()
        match = _TR_03130_DATE.fullmatch(text)
        if match is not None:
            year, month, day = (int(part) for part in match.groups())
            return cls(year, month or None, day or None)
        match = _PARTIAL_DATE.fullmatch(text)
        if match is None:
            raise MalformedAttribute("not a (partial) date")
        year_s, month_s, day_s = match.groups()
        return cls(int(year_s), int(month_s) if month_s else None, int(day_s) if day_s else None)

    def isoformat(self) -> str:
        parts = [f"{self.year:04d}"]
        if self.month is not None:
            parts.append(f"{self.month:02d}")
        if self.day is not None:
            parts.append(f"{self.day:02d}")
        return "-".join(parts)


@dataclass(frozen=True, slots=True)
class AttributeValue:
    value: Any
    level: LevelOfAssurance
    verified: bool = True


def normalise(name: Attribute, raw: Any) -> Any:
    """JSON-ready value of one attribute, or MalformedAttribute."""
    if name is Attribute.place_of_residence:
        return _place_of_residence(raw)
    text = _text(raw)
    if name is Attribute.date_of_birth:
        return PartialDate.parse(text).isoformat()
    if name is Attribute.email:
        return _email(text)
    if name is Attribute.nationality:
        if not re.fullmatch(r"[A-Z]{1,3}", text.upper()):
            raise MalformedAttribute("nationality must be an ICAO country code")
        return text.upper()
    return text


def _text(raw: Any) -> str:
    """A non-empty string of bounded length; other JSON types are refused, not stringified."""
    if not isinstance(raw, str):
        raise MalformedAttribute("attribute must be a string")
    text = raw.strip()
    if not text or len(text) > MAX_TEXT_LENGTH:
        raise MalformedAttribute("attribute is empty or too long")
    # NUL cannot be stored in PostgreSQL text at all; other control characters are no part
    # of a name or an address (line breaks of a formatted address excepted).
    if any(not c.isprintable() and c not in "\n\r\t" for c in text):
        raise MalformedAttribute("attribute holds control characters")
    return text


def _email(text: str) -> str:
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise MalformedAttribute("not an e-mail address") from exc


def _place_of_residence(raw: Any) -> dict[str, str]:
    """Structured `{street, postal_code, locality, country}` when there is a locality (OIDC's
    `address` claim names are accepted too), else `{free_text}`."""
    if isinstance(raw, str):
        return {"free_text": _text(raw)}
    if not isinstance(raw, dict):
        raise MalformedAttribute("place of residence must be structured or free text")
    fields = {
        "street": raw.get("street") or raw.get("street_address"),
        "postal_code": raw.get("postal_code") or raw.get("zip_code"),
        "locality": raw.get("locality") or raw.get("city"),
        "country": raw.get("country"),
    }
    structured = {key: _text(value) for key, value in fields.items() if value}
    if "locality" in structured:
        return structured
    free_text = raw.get("free_text") or raw.get("formatted")
    if free_text:
        return {"free_text": _text(free_text)}
    raise MalformedAttribute("structured place of residence needs a locality")
