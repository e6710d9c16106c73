from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments import service
from app.appointments.errors import BranchNotFound
from app.appointments.schemas import BranchRead
from app.core.concurrency import set_etag
from app.core.errors import InvalidCursor
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router, problem_responses
from app.core.uow import get_session

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
