"""Departments; the OZG service catalogue and applications build on these."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import record
from app.core.concurrency import expected_version, update_versioned
from app.core.pagination import PageParams, paginate
from app.core.schemas import LocalizedText
from app.identity.errors import MissingRole
from app.identity.principal import Principal, Role
from app.services.errors import DepartmentNotFound
from app.services.models import Department
from app.services.schemas import DepartmentRead, DepartmentUpdate


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


department_service = DepartmentService()
