"""Staff users and their roles.

Roles: Keycloak groups become role grants, stored per staff user at each sign-in. A group
like `/rathaus/clerk/department/51` grants the role `clerk` in the department with code 51;
the city's organisation (departments and branches) decides which codes exist. Staff sessions
are short (`RATHAUS_STAFF_SESSION_TTL_SECONDS`), so a role taken away in Keycloak is gone
here within that time.

Lifecycle: an administrator can disable a staff user (all their sessions end at once, and
they cannot sign in again) and enable them again; both are transitions of a state machine,
audited.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import InvalidAccessToken
from app.core.i18n import Text
from app.core.pagination import PageParams, SortOrder, paginate
from app.core.principal import Principal, PrincipalType, Role, RoleGrant, ScopeType
from app.core.state_machine import InvalidTransition, StateMachine, Transition
from app.identity.errors import CannotDisableYourself, StaffUserNotFound
from app.identity.models import StaffRoleGrant, StaffUser
from app.identity.sessions import revoke_sessions_of
from app.organisation.service import branch_service, department_service


class StaffStatus(StrEnum):
    active = "active"
    disabled = "disabled"


STAFF_USERS = StateMachine(
    "staff_user",
    StaffUser,
    [
        Transition.of("disable", {StaffStatus.active}, StaffStatus.disabled),
        Transition.of("enable", {StaffStatus.disabled}, StaffStatus.active),
    ],
    not_found=StaffUserNotFound,
    labels={
        StaffStatus.active: Text(de="aktiv", en="active"),
        StaffStatus.disabled: Text(de="gesperrt", en="disabled"),
    },
    initial=StaffStatus.active,
)
STAFF_ORDER = SortOrder([StaffUser.display_name, StaffUser.id])

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
    status = await session.scalar(select(StaffUser.status).where(StaffUser.id == staff_user_id))
    if status != StaffStatus.active:
        raise InvalidAccessToken()
    rows = await session.scalars(
        select(StaffRoleGrant).where(StaffRoleGrant.staff_user_id == staff_user_id)
    )
    return tuple(RoleGrant(Role(g.role), ScopeType(g.scope_type), g.scope_id) for g in rows)


class StaffService:
    """Administrators look after staff users: list them, disable and enable them."""

    async def list(
        self, session: AsyncSession, params: PageParams
    ) -> tuple[list[StaffUser], str | None]:
        return await paginate(session, select(StaffUser), order_by=STAFF_ORDER, params=params)

    async def get(self, session: AsyncSession, staff_user_id: uuid.UUID) -> StaffUser:
        user = await session.get(StaffUser, staff_user_id)
        if user is None:
            raise StaffUserNotFound()
        return user

    async def disable(
        self, session: AsyncSession, admin: Principal, staff_user_id: uuid.UUID
    ) -> StaffUser:
        """Disable the user and end all their sessions at once. Idempotent: disabling a
        disabled user changes (and audits) nothing."""
        if staff_user_id == admin.id:
            raise CannotDisableYourself()
        try:
            user = await STAFF_USERS.apply(session, staff_user_id, "disable")
        except InvalidTransition as refused:
            if refused.extensions.get("current_status") != StaffStatus.disabled:
                raise
            return await self.get(session, staff_user_id)
        await revoke_sessions_of(session, PrincipalType.staff, staff_user_id, "staff_disabled")
        return user

    async def enable(self, session: AsyncSession, staff_user_id: uuid.UUID) -> StaffUser:
        """Let the user sign in again (with the roles their groups then grant). Idempotent."""
        try:
            return await STAFF_USERS.apply(session, staff_user_id, "enable")
        except InvalidTransition as refused:
            if refused.extensions.get("current_status") != StaffStatus.active:
                raise
            return await self.get(session, staff_user_id)

    async def roles(self, session: AsyncSession, staff_user_id: uuid.UUID) -> tuple[RoleGrant, ...]:
        rows = await session.scalars(
            select(StaffRoleGrant).where(StaffRoleGrant.staff_user_id == staff_user_id)
        )
        return tuple(
            sorted(
                (RoleGrant(Role(g.role), ScopeType(g.scope_type), g.scope_id) for g in rows),
                key=lambda g: (g.role.value, g.scope_type.value, str(g.scope_id)),
            )
        )


staff_service = StaffService()
