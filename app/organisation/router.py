from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Path, Response

from app.core.auth import MissingRole, Staff
from app.core.concurrency import IfMatchHeader, set_etag
from app.core.errors import InvalidCursor, PreconditionFailed, PreconditionRequired
from app.core.openapi import response_headers
from app.core.pagination import PageParams, page_params
from app.core.routing import api_router, problem_responses
from app.core.uow import ReadConnection, ReadSession, WriteSession
from app.organisation.errors import BranchNotFound, DepartmentNotFound
from app.organisation.schemas import (
    BranchPage,
    BranchRead,
    BranchUpdate,
    DepartmentPage,
    DepartmentRead,
    DepartmentUpdate,
)
from app.organisation.service import branch_service, department_service

router = api_router("organisation")

Pagination = Annotated[PageParams, Depends(page_params)]
BranchId = Annotated[uuid.UUID, Path(description="The branch's `id`.")]
DepartmentId = Annotated[uuid.UUID, Path(description="The department's `id`.")]


@router.get(
    "/branches",
    response_model=BranchPage,
    summary="List the citizen-office branches",
    description="Every branch of the citizen office with its address, contact details and "
    "accessibility, ordered by name. Public; no sign-in needed.",
    responses=problem_responses(InvalidCursor),
)
async def list_branches(connection: ReadConnection, params: Pagination) -> dict[str, Any]:
    branches, next_cursor = await branch_service.list(connection, params)
    return {"items": branches, "next_cursor": next_cursor}


@router.get(
    "/branches/{branch_id}",
    response_model=BranchRead,
    summary="Get one branch",
    description="The `ETag` header carries the branch's version for later `If-Match` edits.",
    responses={**problem_responses(BranchNotFound), **response_headers(200, "ETag")},
)
async def get_branch(branch_id: BranchId, session: ReadSession, response: Response) -> BranchRead:
    branch = await branch_service.get(session, branch_id)
    set_etag(response, branch.version)
    return branch_service.to_read(branch)


@router.patch(
    "/branches/{branch_id}",
    response_model=BranchRead,
    summary="Edit a branch's contact details (its staff and administrators)",
    description="Send `If-Match` with the ETag from the last read: 428 without it, 412 when "
    "someone else changed the branch in between.",
    responses={
        **problem_responses(BranchNotFound, MissingRole, PreconditionFailed, PreconditionRequired),
        **response_headers(200, "ETag"),
    },
)
async def update_branch(
    branch_id: BranchId,
    changes: BranchUpdate,
    principal: Staff,
    session: WriteSession,
    response: Response,
    if_match: IfMatchHeader = None,
) -> BranchRead:
    branch = await branch_service.update(session, principal, branch_id, changes, if_match)
    set_etag(response, branch.version)
    return branch_service.to_read(branch)


@router.get(
    "/departments",
    response_model=DepartmentPage,
    summary="List the departments that process applications",
    description="Every department with its number in the city's organisation chart and its "
    "name in German and English, ordered by number. Public; no sign-in needed.",
    responses=problem_responses(InvalidCursor),
)
async def list_departments(session: ReadSession, params: Pagination) -> DepartmentPage:
    departments, next_cursor = await department_service.list(session, params)
    return DepartmentPage(
        items=[department_service.to_read(d) for d in departments], next_cursor=next_cursor
    )


@router.get(
    "/departments/{department_id}",
    response_model=DepartmentRead,
    summary="Get one department",
    description="The `ETag` header carries the department's version for later `If-Match` edits.",
    responses={**problem_responses(DepartmentNotFound), **response_headers(200, "ETag")},
)
async def get_department(
    department_id: DepartmentId, session: ReadSession, response: Response
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
    responses={
        **problem_responses(
            DepartmentNotFound, MissingRole, PreconditionFailed, PreconditionRequired
        ),
        **response_headers(200, "ETag"),
    },
)
async def update_department(
    department_id: DepartmentId,
    changes: DepartmentUpdate,
    principal: Staff,
    session: WriteSession,
    response: Response,
    if_match: IfMatchHeader = None,
) -> DepartmentRead:
    department = await department_service.update(
        session, principal, department_id, changes, if_match
    )
    set_etag(response, department.version)
    return department_service.to_read(department)
