"""Schemas shared by several domains."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LocalizedText(BaseModel):
    """A text in German and English; clients pick the one their user reads."""

    de: str
    en: str


class LocalizedName(BaseModel):
    """A name in German and English, as a department or service is called; both required."""

    model_config = ConfigDict(extra="forbid")

    de: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)
