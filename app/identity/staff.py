"""Staff roles: Keycloak groups become role grants, stored per staff user at each sign-in.

A group like `/rathaus/clerk/department/51` grants the role `clerk` in the department with
code 51. The city's organisation (departments and branches) decides which codes exist.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import InvalidAccessToken
from app.core.principal import Role, RoleGrant, ScopeType
from app.identity.models import StaffRoleGrant, StaffUser
from app.organisation.service import branch_service, department_service

_GROUP = re.compile(
    r"^/rathaus/(?P<role>[a-z_]+)(?:/(?P<scope>department|branch)/(?P<code>[A-Za-z0-9_-]+))?$"
)

# The one kind of scope each role is granted for; a group naming another grants nothing.
_SCOPE_OF_ROLE = {
    Role.admin: ScopeType.global_,
    Role.clerk: ScopeType.department,
    Role.supervisor: ScopeType.department,
    Role.branch_staff: ScopeType.branch,
}


async def grants_from_groups(session: AsyncSession, groups: Sequence[str]) -> list[RoleGrant]:
    """Map Keycloak groups like `/rathaus/clerk/department/51` to role grants.

    Unknown roles, departments and branches are ignored: they grant nothing. So is a role with
    the wrong kind of scope: `/rathaus/admin/department/51` does not make a global admin.
    """
    grants: set[RoleGrant] = set()
    for group in groups:
        match = _GROUP.fullmatch(group)
        if match is None or match["role"] not in Role.__members__:
            continue
        role = Role(match["role"])
        scope_type = ScopeType(match["scope"] or ScopeType.global_.value)
        if scope_type is not _SCOPE_OF_ROLE[role]:
            continue
        if scope_type is ScopeType.global_:
            grants.add(RoleGrant(role, scope_type))
            continue
        if scope_type is ScopeType.department:
            scope_id = await department_service.id_for_code(session, match["code"])
        else:
            scope_id = await branch_service.id_for_code(session, match["code"])
        if scope_id is not None:
            grants.add(RoleGrant(role, scope_type, scope_id))
    return sorted(grants, key=lambda g: (g.role.value, g.scope_type.value, str(g.scope_id)))


async def replace_grants(
    session: AsyncSession, staff_user_id: uuid.UUID, grants: Sequence[RoleGrant]
) -> None:
    """The user's grants are exactly `grants` from now on (Keycloak is the source of truth)."""
    await session.execute(
        delete(StaffRoleGrant).where(StaffRoleGrant.staff_user_id == staff_user_id)
    )
    for grant in grants:
        session.add(
            StaffRoleGrant(
                staff_user_id=staff_user_id,
                role=grant.role.value,
                scope_type=grant.scope_type.value,
                scope_id=grant.scope_id,
            )
        )
    await session.flush()


async def grants_of(session: AsyncSession, staff_user_id: uuid.UUID) -> tuple[RoleGrant, ...]:
    """The grants of an active staff user; a disabled one is signed out at once."""
    active = await session.scalar(select(StaffUser.active).where(StaffUser.id == staff_user_id))
    if not active:
        raise InvalidAccessToken()
    rows = await session.scalars(
        select(StaffRoleGrant).where(StaffRoleGrant.staff_user_id == staff_user_id)
    )
    return tuple(RoleGrant(Role(g.role), ScopeType(g.scope_type), g.scope_id) for g in rows)
