"""Who is calling: a citizen, a staff member or an integrator's client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from app.identity.loa import LevelOfAssurance


class PrincipalType(StrEnum):
    citizen = "citizen"
    staff = "staff"
    client = "client"


class Role(StrEnum):
    clerk = "clerk"
    supervisor = "supervisor"
    admin = "admin"
    branch_staff = "branch_staff"


class ScopeType(StrEnum):
    department = "department"
    branch = "branch"
    global_ = "global"


@dataclass(frozen=True, slots=True)
class RoleGrant:
    role: Role
    scope_type: ScopeType
    scope_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    type: PrincipalType
    id: uuid.UUID
    session_id: uuid.UUID | None = None
    level: LevelOfAssurance | None = None
    grants: tuple[RoleGrant, ...] = ()
    scopes: frozenset[str] = field(default_factory=frozenset)
    client_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.type.value}:{self.id}"

    def has_role(
        self,
        *roles: Role,
        department_id: uuid.UUID | None = None,
        branch_id: uuid.UUID | None = None,
    ) -> bool:
        """True if one of `roles` is granted globally or for the given department or branch.

        A global admin may do everything; a supervisor may do what a clerk may in the same scope.
        """
        wanted = set(roles)
        if Role.clerk in wanted:
            wanted.add(Role.supervisor)
        return any(_grant_allows(grant, wanted, department_id, branch_id) for grant in self.grants)


def _grant_allows(
    grant: RoleGrant,
    wanted: set[Role],
    department_id: uuid.UUID | None,
    branch_id: uuid.UUID | None,
) -> bool:
    if grant.scope_type is ScopeType.global_:
        return grant.role is Role.admin or grant.role in wanted
    if grant.role not in wanted or grant.scope_id is None:
        return False
    if grant.scope_type is ScopeType.department:
        return grant.scope_id == department_id
    return grant.scope_type is ScopeType.branch and grant.scope_id == branch_id
