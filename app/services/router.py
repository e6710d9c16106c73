from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.concurrency import IfMatchHeader, set_etag
from app.core.errors import InvalidCursor, PreconditionFailed, PreconditionRequired
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router, problem_responses
from app.core.uow import get_session
from app.identity.dependencies import Staff
from app.identity.errors import InvalidAccessToken, MissingRole, WrongPrincipalType
from app.services.errors import DepartmentNotFound
from app.services.schemas import DepartmentRead, DepartmentUpdate
from app.services.service import department_service

router = api_router("services")

Session = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/departments",
    response_model=Page[DepartmentRead],
    summary="List the departments that process applications",
    responses=problem_responses(InvalidCursor),
)
async def list_departments(
    session: Session, params: Annotated[PageParams, Depends(page_params)]
) -> Page[DepartmentRead]:
    departments, next_cursor = await department_service.list(session, params)
    return Page[DepartmentRead](
        items=[department_service.to_read(d) for d in departments], next_cursor=next_cursor
    )


@router.get(
    "/departments/{department_id}",
    response_model=DepartmentRead,
    summary="Get one department",
    responses=problem_responses(DepartmentNotFound),
)
async def get_department(
    department_id: uuid.UUID, session: Session, response: Response
) -> DepartmentRead:
    department = await department_service.get(session, department_id)
    set_etag(response, department.version)
    return department_service.to_read(department)


@router.patch(
    "/departments/{department_id}",
    response_model=DepartmentRead,
    summary="Edit a department (its supervisors and administrators)",
    description="Send `If-Match` with the ETag from the last read: 428 without it, 412 when "
    "someone else changed the department in between.",
    responses=problem_responses(
        DepartmentNotFound,
        InvalidAccessToken,
        WrongPrincipalType,
        MissingRole,
        PreconditionFailed,
        PreconditionRequired,
    ),
)
async def update_department(
    department_id: uuid.UUID,
    changes: DepartmentUpdate,
    principal: Staff,
    session: Session,
    response: Response,
    if_match: IfMatchHeader = None,
) -> DepartmentRead:
    department = await department_service.update(
        session, principal, department_id, changes, if_match
    )
    set_etag(response, department.version)
    return department_service.to_read(department)
