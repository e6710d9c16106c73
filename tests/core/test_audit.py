"""The audit log records who did what, with the change, and never a secret."""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import Actor, ActorType, AuditEntry, current_actor, record
from app.core.db import Database


async def test_entry_commits_with_the_change_and_names_actor_and_request(db: Database) -> None:
    token = current_actor.set(Actor(ActorType.staff, "clerk-7"))
    structlog.contextvars.bind_contextvars(request_id="req-audit-1")
    try:
        async with db.transaction() as session:
            await record(
                session,
                action="branch.renamed",
                object_type="branch",
                object_id="b-1",
                summary={"field": "name"},
            )
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
        current_actor.reset(token)

    async with db.session() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "branch.renamed")
        )
    assert entry is not None
    assert (entry.actor_type, entry.actor_id) == ("staff", "clerk-7")
    assert entry.request_id == "req-audit-1"
    assert entry.object_type == "branch"
    assert entry.object_id == "b-1"
    assert entry.summary == {"field": "name"}
    assert entry.occurred_at.tzinfo is not None


async def test_entry_is_gone_when_the_change_rolls_back(db: Database) -> None:
    async with db.session() as session:
        await record(session, action="branch.deleted", object_type="branch", object_id="b-2")
        await session.rollback()

    async with db.session() as session:
        found = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "branch.deleted")
        )
    assert found is None


async def test_secrets_are_redacted_and_long_values_shortened(session: AsyncSession) -> None:
    entry = await record(
        session,
        action="client.created",
        object_type="client",
        object_id="c-1",
        summary={
            "client_secret": "s3cr3t",
            "refresh_token": "abc",
            "iban": "DE02120300000000202051",
            "scopes": "appointments:read",
            "note": "x" * 500,
        },
    )

    assert entry.summary["client_secret"] == "[redacted]"
    assert entry.summary["refresh_token"] == "[redacted]"
    assert entry.summary["iban"] == "[redacted]"
    assert entry.summary["scopes"] == "appointments:read"
    assert len(entry.summary["note"]) <= 201
    assert entry.actor_type == "system"
