from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import EMAIL_LENGTH, Base, UUIDPrimaryKey, utcnow


class Department(UUIDPrimaryKey, Base):
    """A department (Fachbereich, Amt) that processes applications."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(20), unique=True)
    name_de: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
