"""Keyset pagination with opaque, signed cursors. Stable under inserts, no OFFSET scans.

A list is sorted by columns, each ascending or descending, the last one unique and none NULL:
`order_by=[Application.submitted_at.desc(), Application.id.desc()]` shows the newest first.
The cursor holds the sort values of a page's last row, signed together with the sort order,
so a cursor works only for the order it came from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    RowMapping,
    Select,
    TypeDecorator,
    and_,
    bindparam,
    literal,
    or_,
    tuple_,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.types import TypeEngine

from app.core.errors import InvalidCursor

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
_SIGNATURE_LENGTH = 12

T = TypeVar("T")

OrderItem = QueryableAttribute[Any] | ColumnElement[Any]
"""A column (ascending), `column.asc()` or `column.desc()`."""


class Page(BaseModel, Generic[T]):
    """One page of a list. Domains name each kind, `class BranchPage(Page[BranchRead])`, so
    that the contract says `BranchPage`."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def _whole_number(value: object) -> object:
    """`limit=20`, not `limit=20.0` or `limit=+20`: a query integer is digits only."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("int_parsing", "not a whole number")
    return value


@dataclass(frozen=True, slots=True)
class PageParams:
    cursor: str | None
    limit: int
    secret: bytes


async def page_params(
    request: Request,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="Opaque cursor from a previous page's `next_cursor`."),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LIMIT, description="Page size, at most 100."),
        BeforeValidator(_whole_number),
    ] = DEFAULT_LIMIT,
) -> PageParams:
    secret = request.app.state.settings.secret_key.encode()
    return PageParams(cursor=cursor, limit=limit, secret=secret)


@dataclass(frozen=True, slots=True)
class SortKey:
    column: ColumnElement[Any]
    descending: bool


class SortOrder:
    """The columns a list is sorted by; the last must be unique and none may be NULL."""

    __slots__ = ("fingerprint", "keys")

    def __init__(self, order_by: Sequence[OrderItem]) -> None:
        if not order_by:
            raise ValueError("keyset pagination needs at least one sort column")
        self.keys = tuple(_sort_key(item) for item in order_by)
        self.fingerprint = ",".join(
            f"{_column_name(key.column)} {'desc' if key.descending else 'asc'}" for key in self.keys
        ).encode()

    def order_by(self) -> list[ColumnElement[Any]]:
        return [key.column.desc() if key.descending else key.column.asc() for key in self.keys]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows that come after a row with these sort values."""
        return self.after_bound(
            [
                literal(value, type_=key.column.type)
                for key, value in zip(self.keys, values, strict=True)
            ]
        )

    def after_bound(self, bound: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
        """Rows that come after a row whose sort values are these expressions (literals or
        bind parameters).

        One direction is one row-value comparison. Mixed directions expand to
        `a > x OR (a = x AND b < y) OR …`, led by `a >= x` so that an index on `a` still
        bounds the scan.
        """
        columns = [key.column for key in self.keys]
        directions = {key.descending for key in self.keys}
        if directions == {False}:
            return tuple_(*columns) > tuple_(*bound)
        if directions == {True}:
            return tuple_(*columns) < tuple_(*bound)
        beyond = [
            and_(*[c == v for c, v in zip(columns[:i], bound[:i], strict=True)], _past(key, v))
            for i, (key, v) in enumerate(zip(self.keys, bound, strict=True))
        ]
        first = self.keys[0]
        start = first.column <= bound[0] if first.descending else first.column >= bound[0]
        return and_(start, or_(*beyond))


def _past(key: SortKey, value: ColumnElement[Any]) -> ColumnElement[bool]:
    return key.column < value if key.descending else key.column > value


def _sort_key(item: OrderItem) -> SortKey:
    if isinstance(item, QueryableAttribute):
        column: ColumnElement[Any] = item.__clause_element__()
        descending = False
    elif isinstance(item, UnaryExpression):
        if item.modifier not in (operators.asc_op, operators.desc_op):
            raise TypeError(f"sort by a column, column.asc() or column.desc(), not {item}")
        column, descending = item.element, item.modifier is operators.desc_op
    else:
        column, descending = item, False
    if getattr(column, "nullable", False):
        raise ValueError(f"sort column {column} may be NULL, which keyset pagination cannot page")
    return SortKey(column, descending)


def _column_name(column: ColumnElement[Any]) -> str:
    table = getattr(column, "table", None)
    name = getattr(table, "name", None)
    return f"{name}.{column.key}" if name else str(column.key)


def _sign(payload: bytes, secret: bytes, order: SortOrder) -> bytes:
    message = b"cursor:" + order.fingerprint + b"\n" + payload
    return hmac.new(secret, message, hashlib.sha256).digest()[:_SIGNATURE_LENGTH]


def encode_cursor(values: Sequence[Any], secret: bytes, order: SortOrder) -> str:
    """A cursor for the row with these sort values, valid only with `order`."""
    payload = json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_sign(payload, secret, order) + payload).rstrip(b"=").decode()


def decode_cursor(cursor: str, secret: bytes, order: SortOrder) -> list[Any]:
    """The sort values in `cursor`, typed like their columns; `InvalidCursor` if it was not
    made by `encode_cursor` for this order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        signature, payload = raw[:_SIGNATURE_LENGTH], raw[_SIGNATURE_LENGTH:]
        if not hmac.compare_digest(signature, _sign(payload, secret, order)):
            raise InvalidCursor()
        values = json.loads(payload)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(values, list) or len(values) != len(order.keys):
        raise InvalidCursor()
    return [_parse(key.column, value) for key, value in zip(order.keys, values, strict=True)]


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _parse(column: ColumnElement[Any], value: Any) -> Any:
    column_type = _unwrapped(column.type)
    python_type = column_type.python_type
    if value is None or isinstance(value, bool) != (python_type is bool):
        raise InvalidCursor()
    if python_type in (uuid.UUID, datetime, date) and not isinstance(value, str):
        raise InvalidCursor()
    try:
        if python_type is uuid.UUID:
            return uuid.UUID(value)
        if python_type is datetime:
            return _aware_as_column(datetime.fromisoformat(value), column_type)
        if python_type is date:
            return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidCursor() from exc
    if not isinstance(value, python_type):
        raise InvalidCursor()
    return value


def _aware_as_column(value: datetime, column_type: TypeEngine[Any]) -> datetime:
    aware = isinstance(column_type, DateTime) and column_type.timezone
    if (value.tzinfo is not None) != aware:
        raise InvalidCursor()
    return value


def _unwrapped(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    # A TypeDecorator (e.g. UTCDateTime) reports `object`; the type it decorates knows better.
    if isinstance(column_type, TypeDecorator):
        return column_type.impl_instance
    return column_type


def _page_statement(statement: Select[Any], order: SortOrder, params: PageParams) -> Select[Any]:
    if params.cursor is not None:
        values = decode_cursor(params.cursor, params.secret, order)
        statement = statement.where(order.after(values))
    return statement.order_by(*order.order_by()).limit(params.limit + 1)


def _sort_order(order_by: Sequence[OrderItem] | SortOrder) -> SortOrder:
    return order_by if isinstance(order_by, SortOrder) else SortOrder(order_by)


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    *,
    order_by: Sequence[OrderItem] | SortOrder,
    params: PageParams,
) -> tuple[list[Any], str | None]:
    """One page of the entities `statement` selects, sorted by columns of that entity."""
    order = _sort_order(order_by)
    entities = list((await session.scalars(_page_statement(statement, order, params))).all())
    if len(entities) <= params.limit:
        return entities, None
    entities = entities[: params.limit]
    last = entities[-1]
    mapper = sa_inspect(last).mapper
    values = [getattr(last, mapper.get_property_by_column(key.column).key) for key in order.keys]
    return entities, encode_cursor(values, params.secret, order)


class KeysetPager:
    """Pages of one Core `select()` in one sort order, for hot read paths.

    Both statements, the first page's and the one after a cursor, are built once with bind
    parameters for the limit and the cursor's values, so a request only binds values: no
    statement is built and no cache key computed per request.
    """

    def __init__(self, statement: Select[Any], order_by: Sequence[OrderItem]) -> None:
        self.order = SortOrder(order_by)
        limit = bindparam("page_limit", type_=Integer())
        ordered = statement.order_by(*self.order.order_by())
        self._names = [f"after_{number}" for number in range(len(self.order.keys))]
        after = self.order.after_bound(
            [
                bindparam(name, type_=key.column.type)
                for name, key in zip(self._names, self.order.keys, strict=True)
            ]
        )
        self._first = ordered.limit(limit)
        self._next = ordered.where(after).limit(limit)

    async def page(
        self, connection: AsyncSession | AsyncConnection, params: PageParams
    ) -> tuple[list[RowMapping], str | None]:
        """One page of rows as mappings, and the cursor of the next page (None at the end)."""
        values: dict[str, Any] = {"page_limit": params.limit + 1}
        statement = self._first
        if params.cursor is not None:
            after = decode_cursor(params.cursor, params.secret, self.order)
            values.update(zip(self._names, after, strict=True))
            statement = self._next
        rows = list((await connection.execute(statement, values)).mappings().all())
        if len(rows) <= params.limit:
            return rows, None
        rows = rows[: params.limit]
        last = [rows[-1][key.column] for key in self.order.keys]
        return rows, encode_cursor(last, params.secret, self.order)
