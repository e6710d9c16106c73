from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments import service
from app.appointments.errors import BranchNotFound
from app.appointments.schemas import BranchRead, BranchUpdate
from app.core.concurrency import IfMatchHeader, set_etag
from app.core.errors import InvalidCursor, PreconditionFailed, PreconditionRequired
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router, problem_responses
from app.core.uow import get_session
from app.identity.dependencies import Staff
from app.identity.errors import InvalidAccessToken, MissingRole, WrongPrincipalType

router = api_router("appointments")

Session = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/branches",
    response_model=Page[BranchRead],
    summary="List the citizen-office branches",
    responses=problem_responses(InvalidCursor),
)
async def list_branches(
    session: Session, params: Annotated[PageParams, Depends(page_params)]
) -> Page[BranchRead]:
    branches, next_cursor = await service.list_branches(session, params)
    return Page[BranchRead](items=[service.to_read(b) for b in branches], next_cursor=next_cursor)


@router.get(
    "/branches/{branch_id}",
    response_model=BranchRead,
    summary="Get one branch",
    description="The `ETag` header carries the branch's version for later `If-Match` edits.",
    responses=problem_responses(BranchNotFound),
)
async def get_branch(branch_id: uuid.UUID, session: Session, response: Response) -> BranchRead:
    branch = await service.get_branch(session, branch_id)
    set_etag(response, branch.version)
    return service.to_read(branch)


@router.patch(
    "/branches/{branch_id}",
    response_model=BranchRead,
    summary="Edit a branch's contact details (its staff and administrators)",
    description="Send `If-Match` with the ETag from the last read: 428 without it, 412 when "
    "someone else changed the branch in between.",
    responses=problem_responses(
        BranchNotFound,
        InvalidAccessToken,
        WrongPrincipalType,
        MissingRole,
        PreconditionFailed,
        PreconditionRequired,
    ),
)
async def update_branch(
    branch_id: uuid.UUID,
    changes: BranchUpdate,
    principal: Staff,
    session: Session,
    response: Response,
    if_match: IfMatchHeader = None,
) -> BranchRead:
    branch = await service.update_branch(session, principal, branch_id, changes, if_match)
    set_etag(response, branch.version)
    return service.to_read(branch)
