"""Person attributes, named as in BSI TR-03130, each with the level it was asserted at."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.identity.loa import LevelOfAssurance


class Attribute(StrEnum):
    family_names = "FamilyNames"
    given_names = "GivenNames"
    birth_name = "BirthName"
    date_of_birth = "DateOfBirth"
    place_of_birth = "PlaceOfBirth"
    place_of_residence = "PlaceOfResidence"
    nationality = "Nationality"
    email = "email"


_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date of birth whose month or day may be unknown (as printed "xx" on the card)."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if self.day is not None and self.month is None:
            raise ValueError("a day needs a month")
        if self.month is not None and not 1 <= self.month <= 12:
            raise ValueError("month out of range")
        if self.day is not None and not 1 <= self.day <= 31:
            raise ValueError("day out of range")

    @classmethod
    def parse(cls, value: str) -> PartialDate:
        """Accept `1964-08-12`, `1964-08`, `1964`, and TR-03130's `19640800` / `19640000`."""
        text = value.strip()
        if re.fullmatch(r"\d{8}", text):
            year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
            return cls(year, month or None, (day or None) if month else None)
        match = _PARTIAL_DATE.match(text)
        if match is None:
            raise ValueError("not a (partial) date")
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
    """JSON-ready value of one attribute, or ValueError for malformed input."""
    if name is Attribute.date_of_birth:
        return PartialDate.parse(str(raw)).isoformat()
    if name is Attribute.place_of_residence:
        return _place_of_residence(raw)
    if name is Attribute.nationality:
        text = str(raw).strip().upper()
        if not re.fullmatch(r"[A-Z]{1,3}", text):
            raise ValueError("nationality must be an ICAO country code")
        return text
    text = str(raw).strip()
    if not text or len(text) > 500:
        raise ValueError("attribute is empty or too long")
    return text


def _place_of_residence(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        return {"free_text": raw.strip()}
    if not isinstance(raw, dict):
        raise ValueError("place of residence must be structured or free text")
    if "free_text" in raw or "formatted" in raw:
        return {"free_text": str(raw.get("free_text") or raw.get("formatted")).strip()}
    fields = {
        "street": raw.get("street") or raw.get("street_address"),
        "postal_code": raw.get("postal_code") or raw.get("zip_code"),
        "locality": raw.get("locality") or raw.get("city"),
        "country": raw.get("country"),
    }
    clean = {k: str(v).strip() for k, v in fields.items() if v}
    if "locality" not in clean:
        raise ValueError("structured place of residence needs a locality")
    return clean
