"""ETag / If-Match optimistic concurrency for edits by clerks and administrators.

A resource's ETag is its `version`. An edit sends `If-Match`; the service then updates with
`WHERE id = :id AND version = :expected`, so two clerks saving at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Header, Response
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import rowcount, utcnow
from app.core.errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    return f'"v{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def parse_if_match(header: str) -> set[str] | None:
    """The ETags listed in If-Match, or None for `*`. Weak tags never match (RFC 9110 §13.1.1)."""
    if header.strip() == "*":
        return None
    return {
        tag.strip() for tag in header.split(",") if tag.strip() and not tag.strip().startswith("W/")
    }


def expected_version(if_match: str | None, current_version: int) -> int:
    """Check If-Match against the current version and return the version to guard the update."""
    if if_match is None:
        raise PreconditionRequired()
    tags = parse_if_match(if_match)
    if tags is not None and etag(current_version) not in tags:
        raise PreconditionFailed()
    return current_version


async def if_match_header(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description="The resource's current ETag. Required: a missing header gives 428, "
            "an outdated one 412.",
        ),
    ] = None,
) -> str | None:
    """Optional to the framework, so that `expected_version` answers a missing one with 428."""
    return if_match


IfMatchHeader = Annotated[str | None, Depends(if_match_header)]


async def update_versioned(
    session: AsyncSession, row: Any, expected: int, values: Mapping[str, object]
) -> None:
    """Write `values` to `row` only if it is still at version `expected`, else 412.

    `row` is a mapped object with `id`, `version` and `updated_at`. The guard is in the
    `UPDATE … WHERE version = :expected` itself, so of two concurrent edits exactly one wins.
    """
    model = type(row)
    result = await session.execute(
        update(model)
        .where(model.id == row.id, model.version == expected)
        .values(**values, version=model.version + 1, updated_at=utcnow())
    )
    if rowcount(result) != 1:
        raise PreconditionFailed()
    await session.refresh(row)
