"""What the appointment routes need besides their input: the time, the settings, the
database for on-demand releases, and the place for the hold rate limit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.core.db import Database, utcnow


async def current_time() -> datetime:
    """The moment a request is answered at; tests override it to stand at other dates."""
    return utcnow()


async def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def app_database(request: Request) -> Database:
    """For releasing missing days on demand in a transaction of their own."""
    database: Database = request.app.state.database
    return database


async def hold_attempts_allowed() -> None:
    """Where holds will be rate-limited per address and per person (issue 9, with the
    booking confirmation): a hold blocks a slot for everybody for its lifetime."""


Now = Annotated[datetime, Depends(current_time)]
AppSettings = Annotated[Settings, Depends(app_settings)]
AppDatabase = Annotated[Database, Depends(app_database)]
HoldRateLimit = Depends(hold_attempts_allowed)
