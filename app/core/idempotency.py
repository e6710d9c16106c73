"""`Idempotency-Key` for POST: a retried request gets the first response, not a second effect.

The key is claimed in its own short transaction, so a concurrent duplicate sees it at once
(409 while in flight). The response is stored in the request's own transaction, so it exists
exactly when the change it describes was committed. A failed request releases the key.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.core.config import Settings
from app.core.db import Database, utcnow
from app.core.errors import IdempotencyInFlight, IdempotencyKeyReused
from app.core.idempotency_models import IdempotencyRecord, IdempotencyStatus
from app.core.routing import ReplayResponse
from app.core.uow import get_uow

REPLAYED_HEADER = "Idempotent-Replayed"
_STORED_HEADERS = ("content-type", "location", "etag", "content-language")


def _scope(request: Request) -> str:
    principal = getattr(request.state, "principal_key", None)
    return str(principal) if principal else "anonymous"


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.url.path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


async def idempotency_key(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="A unique value (e.g. a UUID) per intended operation. Retrying with "
            "the same key returns the first response for 24 hours; the same key with a "
            "different body gives 422, and 409 while the first request is still running.",
        ),
    ] = None,
) -> str | None:
    if key is None:
        return None
    database: Database = request.app.state.database
    settings = request.app.state.settings
    scope = _scope(request)
    fingerprint = _fingerprint(request, await request.body())
    record_id = await _claim(database, scope, key, request, fingerprint, settings)
    uow = get_uow(request)

    async def store(session: AsyncSession, response: Response) -> None:
        await _store_response(session, record_id, response)

    async def release() -> None:
        async with database.transaction() as session:
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == record_id,
                    IdempotencyRecord.status == IdempotencyStatus.in_flight.value,
                )
            )

    uow.before_commit(store)
    uow.after_rollback(release)
    return key


async def _claim(
    database: Database,
    scope: str,
    key: str,
    request: Request,
    fingerprint: str,
    settings: Settings,
) -> uuid.UUID:
    now = utcnow()
    ttl = timedelta(seconds=settings.idempotency_ttl_seconds)
    lock = timedelta(seconds=settings.idempotency_lock_seconds)
    record_id = uuid.uuid4()
    async with database.transaction() as session:
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                IdempotencyRecord.expires_at < now,
            )
        )
        try:
            async with session.begin_nested():
                session.add(
                    IdempotencyRecord(
                        id=record_id,
                        scope=scope,
                        key=key,
                        method=request.method,
                        path=request.url.path,
                        request_hash=fingerprint,
                        status=IdempotencyStatus.in_flight.value,
                        locked_until=now + lock,
                        created_at=now,
                        expires_at=now + ttl,
                    )
                )
            return record_id
        except IntegrityError:
            pass
        existing = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )
        if existing is None:
            raise IdempotencyInFlight()
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if existing.status == IdempotencyStatus.completed.value:
            raise ReplayResponse(_replay(existing))
        return await _take_over_stale(session, existing, now + lock)


async def _take_over_stale(
    session: AsyncSession, existing: IdempotencyRecord, locked_until: datetime
) -> uuid.UUID:
    """A first attempt whose process died leaves its claim behind; it expires after the lock."""
    taken = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == existing.id,
            IdempotencyRecord.status == IdempotencyStatus.in_flight.value,
            IdempotencyRecord.locked_until < utcnow(),
        )
        .values(locked_until=locked_until)
    )
    if getattr(taken, "rowcount", 0) != 1:
        raise IdempotencyInFlight()
    return existing.id


async def _store_response(session: AsyncSession, record_id: uuid.UUID, response: Response) -> None:
    body = getattr(response, "body", b"")
    headers = {name: response.headers[name] for name in _STORED_HEADERS if name in response.headers}
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(
            status=IdempotencyStatus.completed.value,
            response_status=response.status_code,
            response_headers=headers,
            response_body=bytes(body),
        )
    )


def _replay(record: IdempotencyRecord) -> Response:
    headers = dict(record.response_headers or {})
    headers[REPLAYED_HEADER] = "true"
    return Response(
        content=record.response_body or b"",
        status_code=record.response_status or 200,
        headers=headers,
    )


async def purge_expired_idempotency_keys(session: AsyncSession) -> int:
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
