"""`Idempotency-Key` for POST: a retried request gets the first response, not a second effect.

The key is claimed in its own short transaction, so a concurrent duplicate sees it at once
(409 while in flight). The response is stored in the request's own transaction, so it exists
exactly when the change it describes was committed. A failed request releases the key.
A request whose transaction has already begun when the key is checked claims inside it
instead; its duplicates then wait for it rather than get 409.

Each claim is a row with a fresh id. A claim whose lock has run out (its process died) is
deleted and claimed afresh, so the old attempt can neither store its response nor release
the new claim: its store finds no row, and its transaction is rolled back with 409.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.core.config import Settings
from app.core.db import Database, rowcount, utcnow
from app.core.errors import IdempotencyInFlight, IdempotencyKeyReused
from app.core.idempotency_models import IdempotencyRecord, IdempotencyStatus
from app.core.principal import Principal
from app.core.routing import ReplayResponse
from app.core.sealing import Sealer
from app.core.uow import WriteSession, get_uow

REPLAYED_HEADER = "Idempotent-Replayed"
_STORED_HEADERS = ("content-type", "location", "etag", "content-language")


def _scope(request: Request) -> str:
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal.key if principal else "anonymous"


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.url.path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


async def idempotency_key(
    request: Request,
    _session: WriteSession,
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
    uow = get_uow(request)
    claim = _new_claim(request, key, await request.body())
    if uow.session.in_transaction():
        # The request already holds a connection (say, authentication read through its
        # session). A claim on a second one could wait forever: for our own write lock on
        # SQLite, for a free connection on PostgreSQL when requests like this one have taken
        # the whole pool. Claimed inside, it commits or rolls back with the change; duplicates
        # wait for this request to finish and then see its stored response.
        await _claim(uow.session, claim, _sealer(request))
    else:
        async with database.transaction() as session:
            await _claim(session, claim, _sealer(request))
        uow.after_rollback(partial(_release, database, claim.id))
    uow.before_commit(partial(_store_response, record_id=claim.id, sealer=_sealer(request)))
    return key


def _new_claim(request: Request, key: str, body: bytes) -> IdempotencyRecord:
    settings: Settings = request.app.state.settings
    now = utcnow()
    return IdempotencyRecord(
        id=uuid.uuid4(),
        scope=_scope(request),
        key=key,
        method=request.method,
        path=request.url.path,
        request_hash=_fingerprint(request, body),
        status=IdempotencyStatus.in_flight.value,
        locked_until=now + timedelta(seconds=settings.idempotency_lock_seconds),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.idempotency_ttl_seconds),
    )


async def _claim(session: AsyncSession, claim: IdempotencyRecord, sealer: Sealer) -> None:
    """Add `claim`, or raise what the stored record for its key calls for."""
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == claim.scope,
            IdempotencyRecord.key == claim.key,
            _expired_or_abandoned(claim.created_at),
        )
    )
    try:
        async with session.begin_nested():
            session.add(claim)
        return
    except IntegrityError:
        pass
    existing = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == claim.scope, IdempotencyRecord.key == claim.key
        )
    )
    if existing is None:
        raise IdempotencyInFlight()
    if existing.request_hash != claim.request_hash:
        raise IdempotencyKeyReused()
    if existing.status == IdempotencyStatus.completed.value:
        raise ReplayResponse(_replay(existing, sealer))
    raise IdempotencyInFlight()


async def _release(database: Database, record_id: uuid.UUID) -> None:
    async with database.transaction() as session:
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == record_id,
                IdempotencyRecord.status == IdempotencyStatus.in_flight.value,
            )
        )


def _expired_or_abandoned(now: datetime) -> ColumnElement[bool]:
    return or_(
        IdempotencyRecord.expires_at < now,
        and_(
            IdempotencyRecord.status == IdempotencyStatus.in_flight.value,
            IdempotencyRecord.locked_until < now,
        ),
    )


def _sealer(request: Request) -> Sealer:
    """Stored answers are sealed: some carry a secret shown once (a booking's manage token)."""
    settings: Settings = request.app.state.settings
    return Sealer(settings.secret_key, "idempotent-response")


async def _store_response(
    session: AsyncSession, response: Response, *, record_id: uuid.UUID, sealer: Sealer
) -> None:
    body = sealer.seal_bytes(bytes(getattr(response, "body", b"")))
    headers = {name: response.headers[name] for name in _STORED_HEADERS if name in response.headers}
    stored = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == record_id,
            IdempotencyRecord.status == IdempotencyStatus.in_flight.value,
        )
        .values(
            status=IdempotencyStatus.completed.value,
            response_status=response.status_code,
            response_headers=headers,
            response_body=body,
        )
    )
    if rowcount(stored) != 1:
        # Our claim was taken over as abandoned; the attempt that took it owns the key now.
        raise IdempotencyInFlight()


def _replay(record: IdempotencyRecord, sealer: Sealer) -> Response:
    body = sealer.open_bytes(record.response_body or b"")
    if body is None:
        # Sealed with an earlier secret key: the answer cannot be given again.
        raise IdempotencyKeyReused()
    headers = dict(record.response_headers or {})
    headers[REPLAYED_HEADER] = "true"
    return Response(
        content=body,
        status_code=record.response_status or 200,
        headers=headers,
    )


async def purge_expired_idempotency_keys(session: AsyncSession) -> int:
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < utcnow())
    )
    return rowcount(result)


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
