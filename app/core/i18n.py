"""German by default, English when `Accept-Language` prefers it; times in the city's zone."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo


class Language(StrEnum):
    de = "de"
    en = "en"


DEFAULT_LANGUAGE = Language.de

# The city's time zone: times are kept in UTC, and counted and shown here.
BERLIN = ZoneInfo("Europe/Berlin")

current_language: ContextVar[Language] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


@dataclass(frozen=True, slots=True)
class Text:
    """A text citizens or integrators read, in both languages."""

    de: str
    en: str

    def get(self, language: Language | None = None) -> str:
        lang = language or current_language.get()
        return self.en if lang is Language.en else self.de

    def format(self, **values: object) -> Text:
        return Text(de=self.de.format(**values), en=self.en.format(**values))


@lru_cache(maxsize=256)
def negotiate_language(header: str | None) -> Language:
    """Pick de or en from an Accept-Language header (RFC 9110 §12.5.4), honouring q-values."""
    if not header:
        return DEFAULT_LANGUAGE
    best: tuple[float, int, Language] | None = None
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = _quality(params)
        primary = tag.strip().lower().split("-")[0]
        if quality <= 0 or primary not in Language.__members__:
            continue
        candidate = (quality, -position, Language(primary))
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else DEFAULT_LANGUAGE


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0
