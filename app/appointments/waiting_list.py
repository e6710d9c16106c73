"""The waiting list: citizens who want an earlier slot of a service at chosen branches, with
a booking to move or without one.

An entry is made with the booking's manage token or eID sign-in (with a booking), with eID
sign-in, or with an e-mail address that is verified by a code as bookings are. Each person
has at most `RATHAUS_WAITING_LIST_MAX_ENTRIES_PER_PERSON` active entries (a guarded upsert,
`waiting_list_quotas`). An entry ends when it is fulfilled, withdrawn, at its `latest_day`,
at the start of the booking it would move, or after `RATHAUS_WAITING_LIST_MAX_DAYS`; when it
ends its personal data are erased at once. Offers of freed slots go to the waiting entries
one at a time, first come first served (`app.appointments.offers`).
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.booking_service import (
    BookingAccess,
    citizen_key,
    code_hash,
    email_key,
)
from app.appointments.calendar import day_bounds, local_day, rfc3339
from app.appointments.errors import (
    BookingNotFound,
    BookingNotWaitlistable,
    LatestDayInPast,
    ServiceNotFound,
    ServiceNotOffered,
    TooManyPersons,
    WaitingListContactRequired,
    WaitingListCredentialsMissing,
    WaitingListEntryNotFound,
    WaitingListLimitReached,
    WaitingListServiceMissing,
    WaitingListVerificationFailed,
    WrongVerificationCode,
)
from app.appointments.models import (
    AppointmentService,
    Booking,
    BranchService,
    WaitingListBranch,
    WaitingListEntry,
    WaitingListQuota,
)
from app.appointments.repository import BookingStatus
from app.appointments.waiting_list_schemas import WaitingListJoin
from app.core.audit import record
from app.core.config import Settings
from app.core.errors import AppError
from app.core.i18n import Language, Text
from app.core.principal import Principal
from app.core.sealing import token_hash
from app.core.state_machine import InvalidTransition, StateMachine, Transition
from app.notifications.service import Recipient, RecipientKind, notification_service

VERIFICATION_ATTEMPTS = 5
BATCH = 200


class EntryStatus(StrEnum):
    pending_verification = "pending_verification"
    waiting = "waiting"
    offered = "offered"
    fulfilled = "fulfilled"
    left = "left"
    ended = "ended"


ACTIVE_STATUSES = (EntryStatus.pending_verification, EntryStatus.waiting, EntryStatus.offered)

ERASED: dict[str, Any] = {
    "name": None,
    "email": None,
    "person_key": None,
    "manage_token_hash": None,
    "verification_code_hash": None,
}
"""What an entry forgets when it ends."""

WAITING_LIST = StateMachine(
    "waiting_list_entry",
    WaitingListEntry,
    [
        Transition.of("verify", [EntryStatus.pending_verification], EntryStatus.waiting),
        Transition.of("offer", [EntryStatus.waiting], EntryStatus.offered),
        Transition.of("pass", [EntryStatus.offered], EntryStatus.waiting),
        Transition.of("fulfil", [EntryStatus.offered], EntryStatus.fulfilled),
        Transition.of("leave", ACTIVE_STATUSES, EntryStatus.left),
        Transition.of(
            "end", [EntryStatus.pending_verification, EntryStatus.waiting], EntryStatus.ended
        ),
    ],
    not_found=WaitingListEntryNotFound,
    labels={
        EntryStatus.pending_verification: Text(
            de="E-Mail-Adresse unbestätigt", en="e-mail address not verified"
        ),
        EntryStatus.waiting: Text(de="wartet", en="waiting"),
        EntryStatus.offered: Text(de="Termin angeboten", en="slot offered"),
        EntryStatus.fulfilled: Text(de="Termin erhalten", en="slot taken"),
        EntryStatus.left: Text(de="zurückgezogen", en="withdrawn"),
        EntryStatus.ended: Text(de="beendet", en="ended"),
    },
)


@dataclass(frozen=True, slots=True)
class EntryAccess:
    """How the caller proves an entry is theirs: its token, or their eID sign-in."""

    principal: Principal | None = None
    token: str | None = None

    def where(self, settings: Settings) -> list[ColumnElement[bool]]:
        proofs: list[ColumnElement[bool]] = []
        if self.token is not None:
            proofs.append(WaitingListEntry.manage_token_hash == token_hash(self.token))
        if self.principal is not None:
            proofs.append(WaitingListEntry.person_key == citizen_key(settings, self.principal))
        if not proofs:
            raise WaitingListCredentialsMissing()
        return [or_(*proofs)]


@dataclass(frozen=True, slots=True)
class Wish:
    """What a new entry waits for, and who it is."""

    service_id: uuid.UUID
    persons: int
    branch_ids: list[uuid.UUID]
    booking: Booking | None
    person_key: str
    name: str | None
    email: str
    language: Language
    confirmed_via: str


def entry_json(entry: WaitingListEntry, branch_ids: Sequence[uuid.UUID]) -> dict[str, Any]:
    """An entry in the shape of `WaitingListEntryRead`."""
    label = WAITING_LIST.labels[entry.status]
    return {
        "id": str(entry.id),
        "status": entry.status,
        "status_label": {"de": label.de, "en": label.en},
        "service_id": str(entry.service_id),
        "branch_ids": [str(branch_id) for branch_id in branch_ids],
        "persons": entry.persons,
        "latest_day": entry.latest_day.isoformat() if entry.latest_day else None,
        "booking_id": str(entry.booking_id) if entry.booking_id else None,
        "ends_at": rfc3339(entry.ends_at),
    }


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(WaitingListQuota)


class WaitingListService:
    async def join(
        self,
        session: AsyncSession,
        request: WaitingListJoin,
        principal: Principal | None,
        booking_token: str | None,
        now: datetime,
        settings: Settings,
    ) -> tuple[dict[str, Any], str]:
        """Put the citizen on the waiting list; returns the entry and its token, not kept."""
        wish = await self._wish(session, request, principal, booking_token, now, settings)
        await self._check_branches(session, wish)
        ends_at = now + timedelta(days=settings.waiting_list_max_days)
        if request.latest_day is not None:
            if request.latest_day < local_day(now):
                raise LatestDayInPast()
            ends_at = min(ends_at, _day_end(request.latest_day, ends_at))
        if wish.booking is not None:
            ends_at = min(ends_at, wish.booking.starts_at)
        limit = settings.waiting_list_max_entries_per_person
        if not await self._take_quota(session, wish.person_key, limit):
            raise WaitingListLimitReached(limit)
        token = secrets.token_urlsafe(32)
        pending = wish.confirmed_via == "email"
        entry = WaitingListEntry(
            id=uuid.uuid4(),
            status=EntryStatus.pending_verification if pending else EntryStatus.waiting,
            service_id=wish.service_id,
            persons=wish.persons,
            latest_day=request.latest_day,
            booking_id=wish.booking.id if wish.booking else None,
            person_key=wish.person_key,
            name=wish.name,
            email=wish.email,
            language=wish.language.value,
            confirmed_via=wish.confirmed_via,
            manage_token_hash=token_hash(token),
            verification_attempts=0,
            expires_at=now + timedelta(seconds=settings.booking_verification_seconds)
            if pending
            else None,
            ends_at=ends_at,
        )
        code = f"{secrets.randbelow(10**6):06d}"
        if pending:
            entry.verification_code_hash = code_hash(settings, entry.id, code)
        session.add(entry)
        await session.flush()
        session.add_all(
            [WaitingListBranch(entry_id=entry.id, branch_id=b) for b in wish.branch_ids]
        )
        await session.flush()
        await record(
            session,
            action="waiting_list_entry.join",
            object_type=WAITING_LIST.aggregate,
            object_id=entry.id,
            summary={"status": entry.status, "branches": len(wish.branch_ids)},
        )
        if pending:
            await self._send_code(session, entry, code, settings)
        return entry_json(entry, wish.branch_ids), token

    async def verify(
        self,
        session: AsyncSession,
        entry_id: uuid.UUID,
        code: str,
        now: datetime,
        settings: Settings,
    ) -> dict[str, Any]:
        """Let the entry wait, with the code from its e-mail; a few wrong codes end it."""
        counted = (
            await session.execute(
                update(WaitingListEntry)
                .where(
                    WaitingListEntry.id == entry_id,
                    WaitingListEntry.status == EntryStatus.pending_verification,
                    WaitingListEntry.expires_at > now,
                    WaitingListEntry.verification_attempts < VERIFICATION_ATTEMPTS,
                )
                .values(verification_attempts=WaitingListEntry.verification_attempts + 1)
                .returning(
                    WaitingListEntry.verification_code_hash,
                    WaitingListEntry.verification_attempts,
                )
                .execution_options(synchronize_session=False)
            )
        ).first()
        if counted is None:
            return await self._verify_refused(session, entry_id, now)
        stored, attempts = counted
        if not hmac.compare_digest(stored or "", code_hash(settings, entry_id, code)):
            if attempts < VERIFICATION_ATTEMPTS:
                raise WrongVerificationCode(VERIFICATION_ATTEMPTS - attempts)
            await self.end(session, entry_id, "end", now)
            raise WaitingListVerificationFailed()
        entry = await WAITING_LIST.apply(
            session,
            entry_id,
            "verify",
            values={"verification_code_hash": None, "expires_at": None},
        )
        return entry_json(entry, await self.branch_ids(session, entry.id))

    async def _verify_refused(
        self, session: AsyncSession, entry_id: uuid.UUID, now: datetime
    ) -> dict[str, Any]:
        entry = await session.get(WaitingListEntry, entry_id, populate_existing=True)
        if entry is None:
            raise WaitingListEntryNotFound()
        if entry.status != EntryStatus.pending_verification:
            raise InvalidTransition(entry.status, WAITING_LIST.labels.get(entry.status))
        # Pending, but its code lapsed or was tried too often.
        await self.end(session, entry_id, "end", now)
        raise WaitingListVerificationFailed()

    async def get(
        self, session: AsyncSession, entry_id: uuid.UUID, access: EntryAccess, settings: Settings
    ) -> dict[str, Any]:
        entry = await self.visible(session, entry_id, access, settings)
        return entry_json(entry, await self.branch_ids(session, entry.id))

    async def visible(
        self, session: AsyncSession, entry_id: uuid.UUID, access: EntryAccess, settings: Settings
    ) -> WaitingListEntry:
        entry = await session.scalar(
            select(WaitingListEntry)
            .where(WaitingListEntry.id == entry_id, *access.where(settings))
            .execution_options(populate_existing=True)
        )
        if entry is None:
            raise WaitingListEntryNotFound()
        return entry

    async def end(
        self,
        session: AsyncSession,
        entry_id: uuid.UUID,
        action: str,
        now: datetime,
        where: Sequence[ColumnElement[bool]] = (),
    ) -> WaitingListEntry:
        """End an entry by `action` (`leave`, `end` or `fulfil`): one guarded transition,
        then its person's count goes down once and its personal data are gone."""
        person_key = await session.scalar(
            select(WaitingListEntry.person_key).where(WaitingListEntry.id == entry_id)
        )
        ended = await WAITING_LIST.apply(
            session, entry_id, action, where=where, values={**ERASED, "ended_at": now}
        )
        if person_key is not None:
            await session.execute(
                update(WaitingListQuota)
                .where(WaitingListQuota.person_key == person_key)
                .values(active=WaitingListQuota.active - 1)
            )
        return ended

    async def branch_ids(self, session: AsyncSession, entry_id: uuid.UUID) -> list[uuid.UUID]:
        return list(
            await session.scalars(
                select(WaitingListBranch.branch_id)
                .where(WaitingListBranch.entry_id == entry_id)
                .order_by(WaitingListBranch.branch_id)
            )
        )

    async def waiting_at(
        self, session: AsyncSession, branch_id: uuid.UUID, passed: Sequence[uuid.UUID]
    ) -> list[WaitingListEntry]:
        """The waiting entries that would take a slot at the branch, first come first served,
        without those in `passed`."""
        query = (
            select(WaitingListEntry)
            .join(WaitingListBranch, WaitingListBranch.entry_id == WaitingListEntry.id)
            .where(
                WaitingListBranch.branch_id == branch_id,
                WaitingListEntry.status == EntryStatus.waiting,
            )
            .order_by(WaitingListEntry.created_at, WaitingListEntry.id)
            .limit(BATCH)
        )
        if passed:
            query = query.where(WaitingListEntry.id.not_in(passed))
        return list(await session.scalars(query))

    async def end_due(self, session: AsyncSession, now: datetime) -> int:
        """The job's work: end the entries whose time is up, and the unverified ones whose
        code has lapsed. An entry with a live offer ends once the offer is settled."""
        due = await session.scalars(
            select(WaitingListEntry.id)
            .where(
                or_(
                    (WaitingListEntry.status == EntryStatus.waiting)
                    & (WaitingListEntry.ends_at <= now),
                    (WaitingListEntry.status == EntryStatus.pending_verification)
                    & ((WaitingListEntry.expires_at <= now) | (WaitingListEntry.ends_at <= now)),
                )
            )
            .order_by(WaitingListEntry.id)
            .limit(BATCH)
        )
        ended = 0
        for entry_id in due.all():
            try:
                await self.end(session, entry_id, "end", now)
            except AppError:
                continue  # verified, offered or withdrawn meanwhile
            ended += 1
        return ended

    async def _wish(
        self,
        session: AsyncSession,
        request: WaitingListJoin,
        principal: Principal | None,
        booking_token: str | None,
        now: datetime,
        settings: Settings,
    ) -> Wish:
        if request.booking_id is not None:
            return await self._wish_to_move(
                session, request, principal, booking_token, now, settings
            )
        if request.service_id is None:
            raise WaitingListServiceMissing()
        if request.branch_ids is None:
            raise ServiceNotOffered(pointer="#/branch_ids")
        if request.email is None:
            raise WaitingListContactRequired()
        service = await session.get(AppointmentService, request.service_id)
        if service is None or not service.active:
            raise ServiceNotFound()
        persons = request.persons or 1
        if persons > service.max_persons:
            raise TooManyPersons(pointer="#/persons")
        language = request.language or Language.de
        if principal is not None:
            return Wish(
                service.id,
                persons,
                _unique(request.branch_ids),
                None,
                citizen_key(settings, principal),
                request.name,
                request.email,
                language,
                "eid",
            )
        return Wish(
            service.id,
            persons,
            _unique(request.branch_ids),
            None,
            email_key(settings, request.email),
            request.name,
            request.email,
            language,
            "email",
        )

    async def _wish_to_move(
        self,
        session: AsyncSession,
        request: WaitingListJoin,
        principal: Principal | None,
        booking_token: str | None,
        now: datetime,
        settings: Settings,
    ) -> Wish:
        assert request.booking_id is not None
        access = BookingAccess(principal=principal, token=booking_token)
        booking = await session.scalar(
            select(Booking).where(
                Booking.id == request.booking_id, *access.where(settings, request.booking_id)
            )
        )
        if booking is None or booking.status == BookingStatus.held:
            raise BookingNotFound()
        if booking.status != BookingStatus.confirmed or booking.starts_at <= now:
            raise BookingNotWaitlistable()
        if request.service_id is not None and request.service_id != booking.service_id:
            raise WaitingListServiceMissing(
                Text(
                    de="Die Dienstleistung ist die des Termins; lassen Sie sie weg.",
                    en="The service is the appointment's own; leave it out.",
                )
            )
        if request.persons is not None and request.persons != booking.persons:
            raise WaitingListServiceMissing(
                Text(
                    de="Die Zahl der Personen ist die des Termins; lassen Sie sie weg.",
                    en="The number of persons is the appointment's own; leave it out.",
                ),
                pointer="#/persons",
            )
        email = booking.email or request.email
        if email is None:
            raise WaitingListContactRequired()
        assert booking.person_key is not None  # a confirmed booking keeps who booked it
        return Wish(
            booking.service_id,
            booking.persons,
            _unique(request.branch_ids or [booking.branch_id]),
            booking,
            booking.person_key,
            booking.name or request.name,
            email,
            request.language or Language(booking.language),
            "booking",
        )

    async def _check_branches(self, session: AsyncSession, wish: Wish) -> None:
        offering = set(
            await session.scalars(
                select(BranchService.branch_id).where(
                    BranchService.service_id == wish.service_id,
                    BranchService.branch_id.in_(wish.branch_ids),
                )
            )
        )
        for index, branch_id in enumerate(wish.branch_ids):
            if branch_id not in offering:
                raise ServiceNotOffered(pointer=f"#/branch_ids/{index}")

    async def _take_quota(self, session: AsyncSession, person_key: str, limit: int) -> bool:
        """Count one more entry for `person_key`, unless it has `limit` already: one guarded
        upsert, so two parallel joins at the limit cannot both pass it."""
        statement = (
            _insert(session)
            .values(person_key=person_key, active=1)
            .on_conflict_do_update(
                index_elements=[WaitingListQuota.person_key],
                set_={"active": WaitingListQuota.active + 1},
                where=WaitingListQuota.active < limit,
            )
            .returning(WaitingListQuota.active)
        )
        return (await session.execute(statement)).first() is not None

    async def count_entry(self, session: AsyncSession, person_key: str) -> None:
        """Count an entry the citizen did not ask for (a block's offer) beyond the limit;
        ending it counts it down again."""
        await session.execute(
            _insert(session)
            .values(person_key=person_key, active=1)
            .on_conflict_do_update(
                index_elements=[WaitingListQuota.person_key],
                set_={"active": WaitingListQuota.active + 1},
            )
        )

    async def _send_code(
        self, session: AsyncSession, entry: WaitingListEntry, code: str, settings: Settings
    ) -> None:
        assert entry.email is not None
        service = await session.get(AppointmentService, entry.service_id)
        assert service is not None  # a foreign key
        language = Language(entry.language)
        await notification_service.send(
            session,
            Recipient(entry.email, language, RecipientKind.citizen),
            "appointments/waiting_list_verification",
            {
                "citizen_name": entry.name or "",
                "service_name": service.name_en if language is Language.en else service.name_de,
                "code": code,
                "valid_minutes": settings.booking_verification_seconds // 60,
            },
        )


def _unique(branch_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    return list(dict.fromkeys(branch_ids))


def _day_end(day: Any, fallback: datetime) -> datetime:
    try:
        return day_bounds(day)[1]
    except OverflowError:  # the last day a date can name
        return fallback


waiting_list_service = WaitingListService()
