"""The principal's roles and the list-level visibility that inboxes and queues filter by."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.principal import Principal, PrincipalType, Role, RoleGrant, ScopeType
from app.organisation.models import Branch
from tests.fixtures.factories import create_branch

DEPT_A, DEPT_B = uuid.uuid4(), uuid.uuid4()
BRANCH_A, BRANCH_B = uuid.uuid4(), uuid.uuid4()


def staff(*grants: RoleGrant) -> Principal:
    return Principal(PrincipalType.staff, uuid.uuid4(), grants=grants)


def test_a_clerk_sees_the_departments_of_their_clerk_grants_only() -> None:
    clerk = staff(
        RoleGrant(Role.clerk, ScopeType.department, DEPT_A),
        RoleGrant(Role.branch_staff, ScopeType.branch, BRANCH_A),
    )

    visible = clerk.visible(ScopeType.department, Role.clerk)

    assert not visible.everything
    assert visible.ids == {DEPT_A}
    assert visible.allows(DEPT_A)
    assert not visible.allows(DEPT_B)
    assert not visible.allows(None)
    assert clerk.visible(ScopeType.branch, Role.branch_staff).ids == {BRANCH_A}
    assert clerk.visible(ScopeType.branch, Role.clerk).ids == frozenset()


def test_a_supervisor_sees_what_a_clerk_of_the_same_department_sees() -> None:
    supervisor = staff(RoleGrant(Role.supervisor, ScopeType.department, DEPT_B))

    assert supervisor.visible(ScopeType.department, Role.clerk).ids == {DEPT_B}
    assert supervisor.has_role(Role.clerk, department_id=DEPT_B)
    assert not supervisor.has_role(Role.clerk, department_id=DEPT_A)


def test_a_global_admin_sees_everything() -> None:
    admin = staff(RoleGrant(Role.admin, ScopeType.global_))

    visible = admin.visible(ScopeType.branch, Role.branch_staff)

    assert visible.everything
    assert visible.allows(BRANCH_B)


def test_a_citizen_or_client_sees_no_department() -> None:
    citizen = Principal(PrincipalType.citizen, uuid.uuid4())

    visible = citizen.visible(ScopeType.department, Role.clerk)

    assert not visible.everything
    assert visible.ids == frozenset()
    assert not visible.allows(DEPT_A)


async def test_the_visibility_filter_selects_just_the_visible_rows(
    session: AsyncSession,
) -> None:
    hoerde, mitte, _aplerbeck = [await create_branch(session) for _ in range(3)]
    branch_staff = staff(
        RoleGrant(Role.branch_staff, ScopeType.branch, hoerde.id),
        RoleGrant(Role.branch_staff, ScopeType.branch, mitte.id),
    )
    nobody = staff(RoleGrant(Role.clerk, ScopeType.department, DEPT_A))
    admin = staff(RoleGrant(Role.admin, ScopeType.global_))

    async def visible_ids(principal: Principal) -> set[uuid.UUID]:
        where = principal.visible(ScopeType.branch, Role.branch_staff).where(Branch.id)
        return set((await session.scalars(select(Branch.id).where(where))).all())

    assert await visible_ids(branch_staff) == {hoerde.id, mitte.id}
    assert await visible_ids(nobody) == set()
    assert len(await visible_ids(admin)) == 3
