"""Schemas shared by several domains."""

from __future__ import annotations

from pydantic import BaseModel


class LocalizedText(BaseModel):
    """A text in German and English; clients pick the one their user reads."""

    de: str
    en: str
