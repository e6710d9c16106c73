"""Branches of the citizen office. The appointment calendar builds on these."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.errors import BranchNotFound
from app.appointments.models import Branch
from app.appointments.schemas import Address, BranchRead, BranchUpdate
from app.core.audit import record
from app.core.concurrency import expected_version, update_versioned
from app.core.pagination import PageParams, paginate
from app.identity.errors import MissingRole
from app.identity.principal import Principal, Role


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


# Contact details may be removed with null; null for anything else (the branch is or is not
# wheelchair accessible) changes nothing, as for a department's name.
_CLEARABLE_BRANCH_FIELDS = frozenset({"phone", "email"})


async def update_branch(
    session: AsyncSession,
    principal: Principal,
    branch_id: uuid.UUID,
    changes: BranchUpdate,
    if_match: str | None,
) -> Branch:
    """Staff of this branch (or an admin) edit it, guarded by If-Match."""
    branch = await get_branch(session, branch_id)
    if not principal.has_role(Role.branch_staff, branch_id=branch.id):
        raise MissingRole()
    expected = expected_version(if_match, branch.version)
    changed = {
        name: value
        for name, value in changes.model_dump(exclude_unset=True).items()
        if value is not None or name in _CLEARABLE_BRANCH_FIELDS
    }
    await update_versioned(session, branch, expected, changed)
    await record(
        session,
        action="branch.updated",
        object_type="branch",
        object_id=branch.id,
        summary={"fields": ",".join(sorted(changed))},
    )
    return branch


async def branch_id_for_code(session: AsyncSession, code: str) -> uuid.UUID | None:
    branch_id: uuid.UUID | None = await session.scalar(select(Branch.id).where(Branch.code == code))
    return branch_id
