"""Departments and branches. Their tables kept their names when they moved here."""

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


class Branch(UUIDPrimaryKey, Base):
    """A citizen-office location (Bürgerdienste-Standort)."""

    __tablename__ = "branches"

    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200))
    house_number: Mapped[str] = mapped_column(String(20))
    postal_code: Mapped[str] = mapped_column(String(5))
    city: Mapped[str] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    wheelchair_accessible: Mapped[bool] = mapped_column(default=False)
    latitude: Mapped[float | None] = mapped_column()
    longitude: Mapped[float | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
