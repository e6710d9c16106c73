"""The state machine helper: guarded transitions, 409 naming the status, audit and event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.audit import AuditEntry
from app.core.db import Database, UTCDateTime, utcnow
from app.core.errors import NotFound
from app.core.i18n import Language, Text
from app.core.jobs.models import Event
from app.core.state_machine import InvalidTransition, StateMachine, Transition

CONCURRENT = 20


class ProbeBase(DeclarativeBase):
    pass


class Parcel(ProbeBase):
    """A test-only aggregate with a lifecycle: registered → sent → delivered, or cancelled."""

    __tablename__ = "probe_parcels"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="registered")
    tracking: Mapped[str | None] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ParcelNotFound(NotFound):
    slug = "parcel-not-found"


PARCELS = StateMachine(
    "parcel",
    Parcel,
    [
        Transition.of("send", {"registered"}, "sent"),
        Transition.of("deliver", {"sent"}, "delivered"),
        Transition.of("cancel", {"registered", "sent"}, "cancelled"),
    ],
    not_found=ParcelNotFound,
    labels={"delivered": Text(de="zugestellt", en="delivered")},
    initial="registered",
)


@pytest.fixture
async def parcels(session: AsyncSession) -> AsyncSession:
    connection = await session.connection()
    await connection.run_sync(ProbeBase.metadata.create_all)
    return session


@pytest.fixture
async def committed_parcels(committed_db: Database, engine: AsyncEngine) -> AsyncIterator[Database]:
    async with engine.begin() as connection:
        await connection.run_sync(ProbeBase.metadata.create_all)
    yield committed_db
    async with engine.begin() as connection:
        await connection.run_sync(ProbeBase.metadata.drop_all)


async def new_parcel(session: AsyncSession, owner: str = "anna") -> Parcel:
    parcel = Parcel(owner=owner)
    session.add(parcel)
    await session.flush()
    return parcel


def test_states_are_derived_from_the_declared_table() -> None:
    assert PARCELS.states == {"registered", "sent", "delivered", "cancelled"}
    assert PARCELS.can("registered", "cancel")
    assert not PARCELS.can("delivered", "cancel")


def test_an_action_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        StateMachine(
            "parcel",
            Parcel,
            [Transition.of("send", {"registered"}, "sent")] * 2,
        )


async def test_transition_moves_the_row_bumps_version_and_writes_audit_and_event(
    parcels: AsyncSession,
) -> None:
    parcel = await new_parcel(parcels)

    moved = await PARCELS.apply(
        parcels,
        parcel.id,
        "send",
        values={"tracking": "T-1"},
        summary={"carrier": "post"},
        payload={"tracking": "T-1"},
    )

    assert (moved.status, moved.tracking, moved.version) == ("sent", "T-1", 2)
    entry = await parcels.scalar(select(AuditEntry).where(AuditEntry.object_id == str(parcel.id)))
    assert entry is not None
    assert (entry.action, entry.object_type) == ("parcel.send", "parcel")
    assert entry.summary == {"status": "sent", "carrier": "post"}
    event = await parcels.scalar(select(Event).where(Event.aggregate_id == str(parcel.id)))
    assert event is not None
    assert event.name == "parcel.send"
    assert event.payload == {"status": "sent", "tracking": "T-1"}


async def test_transition_from_a_wrong_status_is_409_naming_the_status(
    parcels: AsyncSession,
) -> None:
    parcel = await new_parcel(parcels)
    await PARCELS.apply(parcels, parcel.id, "send")
    await PARCELS.apply(parcels, parcel.id, "deliver")

    with pytest.raises(InvalidTransition) as refused:
        await PARCELS.apply(parcels, parcel.id, "cancel")

    assert refused.value.status == 409
    assert refused.value.extensions == {"current_status": "delivered"}
    assert "zugestellt" in refused.value.detail.get(Language.de)
    stored = await parcels.scalar(select(Parcel.status).where(Parcel.id == parcel.id))
    assert stored == "delivered"


async def test_unknown_row_and_a_row_outside_the_callers_scope_are_not_found(
    parcels: AsyncSession,
) -> None:
    parcel = await new_parcel(parcels, owner="anna")

    with pytest.raises(ParcelNotFound):
        await PARCELS.apply(parcels, uuid.uuid4(), "send")
    with pytest.raises(ParcelNotFound):
        await PARCELS.apply(parcels, parcel.id, "send", where=[Parcel.owner == "bernd"])

    stored = await parcels.scalar(select(Parcel.status).where(Parcel.id == parcel.id))
    assert stored == "registered"
    audited = await parcels.scalar(select(func.count()).select_from(AuditEntry))
    assert audited == 0


async def test_concurrent_transitions_of_one_row_let_exactly_one_win(
    committed_parcels: Database,
) -> None:
    async with committed_parcels.transaction() as session:
        parcel = await new_parcel(session)

    async def cancel() -> str:
        try:
            async with committed_parcels.transaction() as session:
                await PARCELS.apply(session, parcel.id, "cancel")
        except InvalidTransition as refused:
            return str(refused.extensions["current_status"])
        return "won"

    outcomes = await asyncio.gather(*(cancel() for _ in range(CONCURRENT)))

    assert outcomes.count("won") == 1
    assert set(outcomes) == {"won", "cancelled"}
    async with committed_parcels.transaction(read_only=True) as session:
        stored = await session.get(Parcel, parcel.id)
        entries = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "parcel.cancel")
        )
        events = await session.scalar(
            select(func.count()).select_from(Event).where(Event.name == "parcel.cancel")
        )
    assert stored is not None
    assert (stored.status, stored.version) == ("cancelled", 2)
    assert (entries, events) == (1, 1)
