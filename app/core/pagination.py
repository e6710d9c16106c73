"""Keyset pagination with opaque, signed cursors. Stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Select, TypeDecorator, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.core.errors import InvalidCursor

MAX_LIMIT = 100
DEFAULT_LIMIT = 20

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list. Domains name each kind, `class BranchPage(Page[BranchRead])`, so
    that the contract says `BranchPage`."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


@dataclass(frozen=True, slots=True)
class PageParams:
    cursor: str | None
    limit: int
    secret: bytes


def page_params(
    request: Request,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="Opaque cursor from a previous page's `next_cursor`."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 100.")] = (
        DEFAULT_LIMIT
    ),
) -> PageParams:
    secret = request.app.state.settings.secret_key.encode()
    return PageParams(cursor=cursor, limit=limit, secret=secret)


def _sign(payload: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, b"cursor:" + payload, hashlib.sha256).digest()[:12]


def encode_cursor(values: Sequence[Any], secret: bytes) -> str:
    payload = json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_sign(payload, secret) + payload).rstrip(b"=").decode()


def decode_cursor(cursor: str, secret: bytes) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        signature, payload = raw[:12], raw[12:]
        if not hmac.compare_digest(signature, _sign(payload, secret)):
            raise InvalidCursor()
        values = json.loads(payload)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(values, list):
        raise InvalidCursor()
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    *,
    order_by: Sequence[InstrumentedAttribute[Any]],
    params: PageParams,
) -> tuple[list[Any], str | None]:
    """One page of `statement` ordered by `order_by` (ascending, last column unique)."""
    if params.cursor is not None:
        values = decode_cursor(params.cursor, params.secret)
        if len(values) != len(order_by):
            raise InvalidCursor()
        statement = statement.where(tuple_(*order_by) > tuple_(*_typed(order_by, values)))
    rows = list(
        (await session.scalars(statement.order_by(*order_by).limit(params.limit + 1))).all()
    )
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    next_values = [getattr(last, column.key) for column in order_by]
    return rows, encode_cursor(next_values, params.secret)


def _typed(order_by: Sequence[InstrumentedAttribute[Any]], values: list[Any]) -> list[Any]:
    """The cursor's JSON values as bind parameters of their columns' own types."""
    return [
        literal(_parse(column, value), type_=column.type)
        for column, value in zip(order_by, values, strict=True)
    ]


def _parse(column: InstrumentedAttribute[Any], value: Any) -> Any:
    python_type = _python_type(column)
    try:
        if python_type is uuid.UUID:
            return uuid.UUID(str(value))
        if python_type is datetime:
            return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidCursor() from exc
    if value is not None and not isinstance(value, python_type):
        raise InvalidCursor()
    return value


def _python_type(column: InstrumentedAttribute[Any]) -> type[Any]:
    # A TypeDecorator (e.g. UTCDateTime) reports `object`; the type it decorates knows better.
    column_type = column.type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    python_type: type[Any] = column_type.python_type
    return python_type
