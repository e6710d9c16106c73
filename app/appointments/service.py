"""Branches of the citizen office. The appointment calendar builds on these."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.errors import BranchNotFound
from app.appointments.models import Branch
from app.appointments.schemas import Address, BranchRead
from app.core.pagination import PageParams, paginate


def to_read(branch: Branch) -> BranchRead:
    return BranchRead(
        id=branch.id,
        code=branch.code,
        name=branch.name,
        address=Address(
            street=branch.street,
            house_number=branch.house_number,
            postal_code=branch.postal_code,
            city=branch.city,
        ),
        district=branch.district,
        phone=branch.phone,
        email=branch.email,
        wheelchair_accessible=branch.wheelchair_accessible,
        latitude=branch.latitude,
        longitude=branch.longitude,
        version=branch.version,
    )


async def list_branches(
    session: AsyncSession, params: PageParams
) -> tuple[list[Branch], str | None]:
    return await paginate(session, select(Branch), order_by=[Branch.name, Branch.id], params=params)


async def get_branch(session: AsyncSession, branch_id: uuid.UUID) -> Branch:
    branch = await session.get(Branch, branch_id)
    if branch is None:
        raise BranchNotFound()
    return branch
