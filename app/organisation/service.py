"""Departments and branches: read by everybody, edited by their own supervisors and staff."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.audit import record
from app.core.auth import MissingRole
from app.core.concurrency import expected_version, update_versioned
from app.core.pagination import KeysetPager, PageParams, paginate
from app.core.principal import Principal, Role
from app.core.schemas import LocalizedText
from app.organisation.errors import BranchNotFound, DepartmentNotFound
from app.organisation.models import Branch, Department
from app.organisation.schemas import (
    Address,
    BranchRead,
    BranchUpdate,
    DepartmentRead,
    DepartmentUpdate,
)

# The branch list is a hot read path: SQLAlchemy Core on a plain read connection, the sort
# order built once, rows shaped straight into the response (validated once, by the router).
_BRANCH_PAGES = KeysetPager(select(*Branch.__table__.c), order_by=[Branch.name, Branch.id])

# Contact details may be removed with null; null for anything else (the branch is or is not
# wheelchair accessible) changes nothing, as for a department's name.
_CLEARABLE_BRANCH_FIELDS = frozenset({"phone", "email"})


class BranchService:
    @staticmethod
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

    @staticmethod
    def row_to_read(row: RowMapping) -> dict[str, Any]:
        """A branch row in the shape of `BranchRead`."""
        return {
            "id": row["id"],
            "code": row["code"],
            "name": row["name"],
            "address": {
                "street": row["street"],
                "house_number": row["house_number"],
                "postal_code": row["postal_code"],
                "city": row["city"],
            },
            "district": row["district"],
            "phone": row["phone"],
            "email": row["email"],
            "wheelchair_accessible": row["wheelchair_accessible"],
            "latitude": row["latitude"],
            "longitude": row["longitude"],
            "version": row["version"],
        }

    async def list(
        self, connection: AsyncConnection, params: PageParams
    ) -> tuple[list[dict[str, Any]], str | None]:
        rows, next_cursor = await _BRANCH_PAGES.page(connection, params)
        return [self.row_to_read(row) for row in rows], next_cursor

    async def get(self, session: AsyncSession, branch_id: uuid.UUID) -> Branch:
        branch = await session.get(Branch, branch_id)
        if branch is None:
            raise BranchNotFound()
        return branch

    async def update(
        self,
        session: AsyncSession,
        principal: Principal,
        branch_id: uuid.UUID,
        changes: BranchUpdate,
        if_match: str | None,
    ) -> Branch:
        """Staff of this branch (or an admin) edit it, guarded by If-Match."""
        branch = await self.get(session, branch_id)
        if not principal.has_role(Role.branch_staff, branch_id=branch.id):
            raise MissingRole()
        expected = expected_version(if_match, branch.version)
        changed: dict[str, Any] = {
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

    async def id_for_code(self, session: AsyncSession, code: str) -> uuid.UUID | None:
        branch_id: uuid.UUID | None = await session.scalar(
            select(Branch.id).where(Branch.code == code)
        )
        return branch_id

    async def names(
        self, session: AsyncSession, branch_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[str, str]]:
        """The code and name of each of these branches, by id."""
        rows = await session.execute(
            select(Branch.id, Branch.code, Branch.name).where(Branch.id.in_(list(branch_ids)))
        )
        return {branch_id: (code, name) for branch_id, code, name in rows.all()}


class DepartmentService:
    @staticmethod
    def to_read(department: Department) -> DepartmentRead:
        return DepartmentRead(
            id=department.id,
            code=department.code,
            name=LocalizedText(de=department.name_de, en=department.name_en),
            email=department.email,
            version=department.version,
        )

    async def list(
        self, session: AsyncSession, params: PageParams
    ) -> tuple[list[Department], str | None]:
        return await paginate(
            session, select(Department), order_by=[Department.code, Department.id], params=params
        )

    async def get(self, session: AsyncSession, department_id: uuid.UUID) -> Department:
        department = await session.get(Department, department_id)
        if department is None:
            raise DepartmentNotFound()
        return department

    async def update(
        self,
        session: AsyncSession,
        principal: Principal,
        department_id: uuid.UUID,
        changes: DepartmentUpdate,
        if_match: str | None,
    ) -> Department:
        """A supervisor of this department (or an admin) edits it, guarded by If-Match."""
        department = await self.get(session, department_id)
        if not principal.has_role(Role.supervisor, department_id=department.id):
            raise MissingRole()
        expected = expected_version(if_match, department.version)
        values: dict[str, object] = {}
        if changes.name is not None:
            values.update(name_de=changes.name.de, name_en=changes.name.en)
        if "email" in changes.model_fields_set:
            values["email"] = str(changes.email) if changes.email else None
        await update_versioned(session, department, expected, values)
        await record(
            session,
            action="department.updated",
            object_type="department",
            object_id=department.id,
            summary={"fields": ",".join(sorted(changes.model_fields_set))},
        )
        return department

    async def id_for_code(self, session: AsyncSession, code: str) -> uuid.UUID | None:
        department_id: uuid.UUID | None = await session.scalar(
            select(Department.id).where(Department.code == code)
        )
        return department_id


branch_service = BranchService()
department_service = DepartmentService()
