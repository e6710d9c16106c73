"""Departments; the OZG service catalogue and applications build on these."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import PageParams, paginate
from app.core.schemas import LocalizedText
from app.services.errors import DepartmentNotFound
from app.services.models import Department
from app.services.schemas import DepartmentRead


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


department_service = DepartmentService()
