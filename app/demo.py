"""Demo data for `make run`: the city's citizen-office branches and a few departments.

Idempotent: rows are matched by their code and only missing ones are added. Later issues add
their own demo data here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import record
from app.core.db import Database
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
