"""Demo data for `make run`: the city's citizen-office branches, a few departments, and the
appointment calendar (services, counters and opening hours of every branch).

Idempotent: rows are matched by their code and only missing ones are added. Later issues add
their own demo data here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.calendar import BERLIN, local_day
from app.appointments.models import (
    AppointmentService,
    Booking,
    BranchCalendar,
    BranchService,
    Counter,
    OpeningHours,
)
from app.appointments.repository import BOOKINGS
from app.appointments.schemas import HoldCreate
from app.appointments.service import hold_service
from app.core.audit import record
from app.core.db import Database, utcnow
from app.core.errors import AppError
from app.identity.adapters.dev_login import DEV_ISSUER, STAFF_PERSONAS
from app.identity.models import StaffRoleGrant, StaffUser
from app.identity.staff import grants_from_groups
from app.organisation.models import Branch, Department

CITY = "Dortmund"


@dataclass(frozen=True)
class DemoBranch:
    code: str
    name: str
    street: str
    house_number: str
    postal_code: str
    district: str
    latitude: float
    longitude: float
    wheelchair_accessible: bool = True


DEMO_BRANCHES = (
    DemoBranch(
        "innenstadt",
        "Bürgerdienste Innenstadt",
        "Südwall",
        "2-4",
        "44137",
        "Innenstadt-West",
        51.5103,
        7.4638,
    ),
    DemoBranch(
        "aplerbeck",
        "Bürgerdienste Aplerbeck",
        "Aplerbecker Marktplatz",
        "21",
        "44287",
        "Aplerbeck",
        51.4937,
        7.5567,
    ),
    DemoBranch(
        "brackel",
        "Bürgerdienste Brackel",
        "Brackeler Hellweg",
        "170",
        "44309",
        "Brackel",
        51.5264,
        7.5558,
    ),
    DemoBranch(
        "eving",
        "Bürgerdienste Eving",
        "Deutsche Straße",
        "27",
        "44339",
        "Eving",
        51.5502,
        7.4792,
        False,
    ),
    DemoBranch(
        "hoerde",
        "Bürgerdienste Hörde",
        "Hörder Bahnhofstraße",
        "16",
        "44263",
        "Hörde",
        51.4826,
        7.4985,
    ),
    DemoBranch(
        "huckarde",
        "Bürgerdienste Huckarde",
        "Urbanusstraße",
        "5",
        "44369",
        "Huckarde",
        51.5347,
        7.4163,
    ),
    DemoBranch(
        "luetgendortmund",
        "Bürgerdienste Lütgendortmund",
        "Limbecker Straße",
        "31",
        "44388",
        "Lütgendortmund",
        51.4979,
        7.3499,
    ),
    DemoBranch(
        "mengede", "Bürgerdienste Mengede", "Am Amtshaus", "1", "44359", "Mengede", 51.5713, 7.3955
    ),
    DemoBranch(
        "scharnhorst",
        "Bürgerdienste Scharnhorst",
        "Gleiwitzstraße",
        "277",
        "44328",
        "Scharnhorst",
        51.5433,
        7.5464,
    ),
)

DEMO_DEPARTMENTS = (
    ("32", "Ordnungsamt", "Public Order Office", "ordnungsamt@stadt.example"),
    ("33", "Bürgerdienste", "Citizen Services", "buergerdienste@stadt.example"),
    ("36", "Straßenverkehrsamt", "Road Traffic Office", "strassenverkehrsamt@stadt.example"),
    ("50", "Sozialamt", "Social Welfare Office", "sozialamt@stadt.example"),
    ("51", "Jugendamt", "Youth Welfare Office", "jugendamt@stadt.example"),
    ("63", "Bauordnungsamt", "Building Control Office", "bauordnungsamt@stadt.example"),
)


async def seed_demo(database: Database) -> dict[str, int]:
    """Add the demo rows that are missing; returns how many of each kind were added.

    Staff users are those of the dev-login personas: a clerk of the Jugendamt, a supervisor of
    the Bürgerdienste department, staff of the Hörde branch, and an administrator.
    """
    async with database.transaction() as session:
        added = {
            "branches": await _seed_branches(session),
            "departments": await _seed_departments(session),
            "staff users": await _seed_staff(session),
            "appointment services": await _seed_appointment_services(session),
            "branch calendars": await _seed_branch_calendars(session),
            "bookings": await _seed_bookings(session),
        }
        if any(added.values()):
            await record(
                session, action="demo.seeded", object_type="demo", object_id=None, summary=added
            )
    return added


async def _seed_branches(session: AsyncSession) -> int:
    existing = set((await session.scalars(select(Branch.code))).all())
    added = 0
    for demo in DEMO_BRANCHES:
        if demo.code in existing:
            continue
        session.add(
            Branch(
                code=demo.code,
                name=demo.name,
                street=demo.street,
                house_number=demo.house_number,
                postal_code=demo.postal_code,
                city=CITY,
                district=demo.district,
                phone="0231 50-0",
                email=f"{demo.code}@buergerdienste.stadt.example",
                wheelchair_accessible=demo.wheelchair_accessible,
                latitude=demo.latitude,
                longitude=demo.longitude,
            )
        )
        added += 1
    await session.flush()
    return added


async def _seed_departments(session: AsyncSession) -> int:
    existing = set((await session.scalars(select(Department.code))).all())
    added = 0
    for code, name_de, name_en, email in DEMO_DEPARTMENTS:
        if code in existing:
            continue
        session.add(Department(code=code, name_de=name_de, name_en=name_en, email=email))
        added += 1
    await session.flush()
    return added


async def _seed_staff(session: AsyncSession) -> int:
    """The dev-login personas, with the roles their Keycloak groups grant."""
    existing = set(
        (
            await session.scalars(
                select(StaffUser.subject).where(StaffUser.provider == "dev-login")
            )
        ).all()
    )
    added = 0
    for persona in STAFF_PERSONAS:
        subject = f"dev-{persona.id}"
        if subject in existing:
            continue
        user = StaffUser(
            provider="dev-login",
            issuer=DEV_ISSUER,
            subject=subject,
            display_name=persona.display_name,
            email=persona.email,
        )
        session.add(user)
        await session.flush()
        for grant in await grants_from_groups(session, persona.groups):
            session.add(
                StaffRoleGrant(
                    staff_user_id=user.id,
                    role=grant.role.value,
                    scope_type=grant.scope_type.value,
                    scope_id=grant.scope_id,
                )
            )
        added += 1
    await session.flush()
    return added


@dataclass(frozen=True)
class DemoService:
    code: str
    name_de: str
    name_en: str
    description_de: str
    description_en: str
    bring_de: str
    bring_en: str
    units: int
    units_per_extra_person: int = 0
    max_persons: int = 1
    only_at: tuple[str, ...] = ()
    leika_key: str | None = None


DEMO_SERVICES = (
    DemoService(
        "personalausweis",
        "Personalausweis beantragen",
        "Apply for an ID card",
        "Neuen Personalausweis beantragen, auch für Kinder ab 0 Jahren.",
        "Apply for a new ID card, also for children of any age.",
        "Bisheriger Ausweis, ein biometrisches Passfoto, bei Kindern die Geburtsurkunde.",
        "Your current ID card, one biometric passport photo, the birth certificate for children.",
        units=2,
        units_per_extra_person=2,
        max_persons=4,
        leika_key="99008001012000",
    ),
    DemoService(
        "reisepass",
        "Reisepass beantragen",
        "Apply for a passport",
        "Neuen Reisepass oder Expressreisepass beantragen.",
        "Apply for a new passport or an express passport.",
        "Personalausweis oder bisheriger Pass, ein biometrisches Passfoto.",
        "ID card or current passport, one biometric passport photo.",
        units=2,
        units_per_extra_person=2,
        max_persons=4,
    ),
    DemoService(
        "anmeldung",
        "Wohnsitz anmelden",
        "Register your address",
        "Anmeldung nach Zuzug oder Umzug innerhalb Dortmunds, innerhalb von zwei Wochen.",
        "Registration after moving to or within Dortmund, within two weeks.",
        "Ausweis oder Pass aller Personen, Wohnungsgeberbestätigung.",
        "ID card or passport of everyone moving, the landlord's confirmation.",
        units=2,
        units_per_extra_person=1,
        max_persons=6,
    ),
    DemoService(
        "meldebescheinigung",
        "Meldebescheinigung ausstellen",
        "Certificate of residence",
        "Bescheinigung über die gemeldete Wohnung.",
        "Certificate of your registered address.",
        "Personalausweis oder Reisepass.",
        "ID card or passport.",
        units=1,
        leika_key="99115003012000",
    ),
    DemoService(
        "fuehrerschein-umtausch",
        "Führerschein umtauschen",
        "Exchange a driving licence",
        "Umtausch eines alten Papier- oder Kartenführerscheins in den EU-Kartenführerschein.",
        "Exchange of an old paper or card licence for the EU card licence.",
        "Personalausweis, bisheriger Führerschein, ein biometrisches Passfoto.",
        "ID card, your current licence, one biometric passport photo.",
        units=2,
        only_at=("innenstadt", "hoerde", "aplerbeck"),
    ),
)

# LeiKa keys as public service portals use them (Personalausweis beantragen, Meldebescheinigung
# beantragen, e.g. meineverwaltung.nrw/leistung/<key>); not checked against the federal
# catalogue itself, so the other services' keys are left empty rather than guessed.

# Counters (each with its online share in percent) and Saturday hours of the bigger branches;
# the others have three counters and no Saturday.
DEMO_COUNTERS = {
    "innenstadt": (80, 80, 80, 70, 70, 60, 50, 50),
    "hoerde": (80, 70, 60, 50),
    "aplerbeck": (80, 70, 50),
}
SATURDAY_BRANCHES = frozenset({"innenstadt", "hoerde"})


def _weekly_hours(code: str) -> list[tuple[int, time, time]]:
    """Mon, Tue and Fri mornings, Mon and Tue afternoons, Wednesday mornings, a long
    Thursday, and Saturday mornings at the bigger branches."""
    hours = [
        (0, time(7, 30), time(12, 30)),
        (0, time(13, 30), time(15, 30)),
        (1, time(7, 30), time(12, 30)),
        (1, time(13, 30), time(15, 30)),
        (2, time(7, 30), time(12, 30)),
        (3, time(8), time(18)),
        (4, time(7, 30), time(12, 30)),
    ]
    if code in SATURDAY_BRANCHES:
        hours.append((5, time(9), time(13)))
    return hours


async def _seed_appointment_services(session: AsyncSession) -> int:
    existing = set((await session.scalars(select(AppointmentService.code))).all())
    added = 0
    for demo in DEMO_SERVICES:
        if demo.code in existing:
            continue
        session.add(
            AppointmentService(
                code=demo.code,
                name_de=demo.name_de,
                name_en=demo.name_en,
                description_de=demo.description_de,
                description_en=demo.description_en,
                bring_de=demo.bring_de,
                bring_en=demo.bring_en,
                max_persons=demo.max_persons,
                leika_key=demo.leika_key,
            )
        )
        added += 1
    await session.flush()
    return added


async def _seed_branch_calendars(session: AsyncSession) -> int:
    """Every demo branch without a calendar gets one: counters, weekly hours, its services."""
    branches = dict((await session.execute(select(Branch.code, Branch.id))).all())
    services = dict(
        (await session.execute(select(AppointmentService.code, AppointmentService.id))).all()
    )
    existing = set((await session.scalars(select(BranchCalendar.branch_id))).all())
    added = 0
    for code, branch_id in sorted(branches.items()):
        if branch_id in existing or code not in {b.code for b in DEMO_BRANCHES}:
            continue
        session.add(BranchCalendar(branch_id=branch_id, unit_minutes=10))
        await session.flush()
        for number, share in enumerate(DEMO_COUNTERS.get(code, (80, 60, 50)), start=1):
            session.add(
                Counter(branch_id=branch_id, name=f"Schalter {number}", online_share_percent=share)
            )
        for weekday, opens, closes in _weekly_hours(code):
            session.add(
                OpeningHours(
                    branch_id=branch_id,
                    weekday=weekday,
                    opens=opens,
                    closes=closes,
                    valid_from=date(2026, 1, 1),
                )
            )
        for demo in DEMO_SERVICES:
            if demo.only_at and code not in demo.only_at:
                continue
            session.add(
                BranchService(
                    branch_id=branch_id,
                    service_id=services[demo.code],
                    units=demo.units,
                    units_per_extra_person=demo.units_per_extra_person,
                )
            )
        added += 1
    await session.flush()
    return added


DEMO_BOOKINGS = (
    ("personalausweis", "Erika Mustermann"),
    ("anmeldung", "Jonas Schmidt"),
    ("meldebescheinigung", "Ayşe Yılmaz"),
)


async def _seed_bookings(session: AsyncSession) -> int:
    """A few confirmed bookings at the Innenstadt branch in the coming days, so the calendar
    is not empty; made through the calendar's own claims, so capacity agrees."""
    if await session.scalar(select(func.count()).select_from(Booking)):
        return 0
    branch_id = await session.scalar(select(Branch.id).where(Branch.code == "innenstadt"))
    services = dict(
        (await session.execute(select(AppointmentService.code, AppointmentService.id))).all()
    )
    if branch_id is None:
        return 0
    now = utcnow()
    added = 0
    for code, name in DEMO_BOOKINGS:
        booking_id = await _first_hold(session, services[code], branch_id, now)
        if booking_id is None:
            continue
        await BOOKINGS.apply(
            session,
            booking_id,
            "confirm",
            values={"name": name, "confirmed_via": "demo", "confirmed_at": now, "expires_at": None},
        )
        added += 1
    return added


async def _first_hold(
    session: AsyncSession, service_id: uuid.UUID, branch_id: uuid.UUID, now: datetime
) -> uuid.UUID | None:
    """Hold the first free start at 10:00 or later on one of the next working days."""
    tomorrow = local_day(now) + timedelta(days=1)
    for offset in range(14):
        day = tomorrow + timedelta(days=offset)
        for minutes in range(0, 120, 10):
            start = datetime.combine(day, time(10), BERLIN) + timedelta(minutes=minutes)
            request = HoldCreate(service_id=service_id, branch_id=branch_id, start=start)
            try:
                async with session.begin_nested():
                    booking = await hold_service.create(session, request, now, 600)
            except AppError:
                continue
            return booking.id
    return None
