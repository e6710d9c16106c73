"""Who is calling: a citizen, a staff member or an integrator's client, and what they may do.

This is the vocabulary every domain checks against. How a caller is authenticated is the
identity package's business; what a principal is, is not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.orm import InstrumentedAttribute

from app.core.audit import Actor, ActorType


class LevelOfAssurance(IntEnum):
    """Vertrauensniveau: low < substantial < high, as in eIDAS."""

    low = 1
    substantial = 2
    high = 3

    @property
    def eidas_uri(self) -> str:
        return f"http://eidas.europa.eu/LoA/{self.name}"


class AssuranceLevel(StrEnum):
    """A level of assurance as the API names it."""

    low = "low"
    substantial = "substantial"
    high = "high"

    @classmethod
    def of(cls, level: LevelOfAssurance) -> AssuranceLevel:
        return cls(level.name)

    @property
    def level(self) -> LevelOfAssurance:
        return LevelOfAssurance[self.value]


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


class ClientScope(StrEnum):
    """What an integrator's client may be granted. One list, so a typo is a type error."""

    departments_read = "departments:read"
    branches_read = "branches:read"
    applications_read = "applications:read"
    applications_export = "applications:export"
    payments_reconcile = "payments:reconcile"
    appointments_read = "appointments:read"
    appointments_tickets = "appointments:tickets"


@dataclass(frozen=True, slots=True)
class RoleGrant:
    role: Role
    scope_type: ScopeType
    scope_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Visibility:
    """The department or branch ids a principal may see in a list: all of them, or these."""

    everything: bool
    ids: frozenset[uuid.UUID] = frozenset()

    def where(self, column: InstrumentedAttribute[uuid.UUID]) -> ColumnElement[bool]:
        """A filter for `column` (a department or branch id) with just the visible rows."""
        if self.everything:
            return true()
        if not self.ids:
            return false()
        return column.in_(sorted(self.ids))

    def allows(self, scope_id: uuid.UUID | None) -> bool:
        return self.everything or (scope_id is not None and scope_id in self.ids)


@dataclass(frozen=True, slots=True)
class Principal:
    type: PrincipalType
    id: uuid.UUID
    session_id: uuid.UUID | None = None
    level: LevelOfAssurance | None = None
    grants: tuple[RoleGrant, ...] = ()
    scopes: frozenset[ClientScope] = field(default_factory=frozenset)
    client_id: str | None = None
    # The one branch a client serves (a ticket kiosk's), if it is bound to one.
    branch_id: uuid.UUID | None = None

    @property
    def key(self) -> str:
        return f"{self.type.value}:{self.id}"

    @property
    def actor(self) -> Actor:
        """How the audit log names this caller: clients by their public client id."""
        actor_id = self.client_id if self.type is PrincipalType.client else str(self.id)
        return Actor(ActorType(self.type.value), actor_id)

    def has_role(
        self,
        *roles: Role,
        department_id: uuid.UUID | None = None,
        branch_id: uuid.UUID | None = None,
    ) -> bool:
        """True if one of `roles` is granted globally or for the given department or branch.

        A global admin may do everything; a supervisor may do what a clerk may in the same scope.
        """
        wanted = _with_implied(roles)
        return any(_grant_allows(grant, wanted, department_id, branch_id) for grant in self.grants)

    def holds_any(self, roles: Iterable[Role]) -> bool:
        """True if one of `roles` (or admin) is granted in any scope at all."""
        wanted = _with_implied(tuple(roles)) | {Role.admin}
        return any(grant.role in wanted for grant in self.grants)

    def visible(self, scope_type: ScopeType, *roles: Role) -> Visibility:
        """Which department or branch ids this principal may see in lists (inboxes, queues).

        A global admin (or a global grant of one of `roles`) sees everything; otherwise the
        scopes of its grants of `roles` of this `scope_type`. Anybody else sees nothing.
        """
        wanted = _with_implied(roles)
        ids: set[uuid.UUID] = set()
        for grant in self.grants:
            if grant.scope_type is ScopeType.global_ and (
                grant.role is Role.admin or grant.role in wanted
            ):
                return Visibility(everything=True)
            if grant.scope_type is scope_type and grant.role in wanted and grant.scope_id:
                ids.add(grant.scope_id)
        return Visibility(everything=False, ids=frozenset(ids))


def _with_implied(roles: tuple[Role, ...]) -> set[Role]:
    wanted = set(roles)
    if Role.clerk in wanted:
        wanted.add(Role.supervisor)
    return wanted


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
