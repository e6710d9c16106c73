"""The signed-in staff member and their roles; administrators' view of all staff users."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Admin, InvalidAccessToken, Staff
from app.core.errors import InvalidCursor
from app.core.pagination import PageParams, page_params
from app.core.routing import api_router, problem_responses
from app.core.uow import ReadSession, WriteSession
from app.identity.errors import CannotDisableYourself, StaffUserNotFound
from app.identity.models import StaffUser
from app.identity.schemas import RoleGrantRead, StaffProfileRead, StaffUserPage, StaffUserRead
from app.identity.staff import StaffStatus, staff_service

router = api_router("identity")


@router.get(
    "/staff/me",
    response_model=StaffProfileRead,
    summary="The signed-in staff member and their roles",
    description="Who is signed in, and each role with its scope (a department, a branch, or "
    "global for administrators), as the staff provider's groups granted them at sign-in.",
)
async def staff_me(principal: Staff, session: ReadSession) -> StaffProfileRead:
    user = await session.get(StaffUser, principal.id)
    if user is None:
        raise InvalidAccessToken()
    return StaffProfileRead(
        id=user.id,
        display_name=user.display_name,
        email=user.email,
        roles=[
            RoleGrantRead(role=g.role, scope_type=g.scope_type, scope_id=g.scope_id)
            for g in principal.grants
        ],
    )


StaffUserId = Annotated[uuid.UUID, Path(description="The staff user's `id`.")]


async def _staff_user_read(session: AsyncSession, user: StaffUser) -> StaffUserRead:
    return StaffUserRead(
        id=user.id,
        display_name=user.display_name,
        email=user.email,
        status=StaffStatus(user.status),
        active=user.is_active,
        roles=[
            RoleGrantRead(role=g.role, scope_type=g.scope_type, scope_id=g.scope_id)
            for g in await staff_service.roles(session, user.id)
        ],
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


@router.get(
    "/admin/staff",
    response_model=StaffUserPage,
    summary="List staff users, by name",
    description="Everybody who has signed in as staff, with their status and the roles their "
    "groups granted at their last sign-in. For administrators.",
    responses=problem_responses(InvalidCursor),
)
async def list_staff_users(
    _admin: Admin, session: ReadSession, params: Annotated[PageParams, Depends(page_params)]
) -> StaffUserPage:
    users, next_cursor = await staff_service.list(session, params)
    return StaffUserPage(
        items=[await _staff_user_read(session, u) for u in users], next_cursor=next_cursor
    )


@router.get(
    "/admin/staff/{staff_user_id}",
    response_model=StaffUserRead,
    summary="Get one staff user",
    description="One staff user with status and roles. For administrators.",
    responses=problem_responses(StaffUserNotFound),
)
async def get_staff_user(
    staff_user_id: StaffUserId, _admin: Admin, session: ReadSession
) -> StaffUserRead:
    return await _staff_user_read(session, await staff_service.get(session, staff_user_id))


@router.post(
    "/admin/staff/{staff_user_id}/disable",
    response_model=StaffUserRead,
    summary="Disable a staff user and end all their sessions",
    description="Their tokens stop working at once (401 on the next request) and they cannot "
    "sign in again until enabled. Idempotent: disabling a disabled user changes nothing. An "
    "administrator cannot disable themselves (409).",
    responses=problem_responses(StaffUserNotFound, CannotDisableYourself),
)
async def disable_staff_user(
    staff_user_id: StaffUserId, admin: Admin, session: WriteSession
) -> StaffUserRead:
    user = await staff_service.disable(session, admin, staff_user_id)
    return await _staff_user_read(session, user)


@router.post(
    "/admin/staff/{staff_user_id}/enable",
    response_model=StaffUserRead,
    summary="Let a disabled staff user sign in again",
    description="Their roles are those their groups grant at the next sign-in. Idempotent.",
    responses=problem_responses(StaffUserNotFound),
)
async def enable_staff_user(
    staff_user_id: StaffUserId, _admin: Admin, session: WriteSession
) -> StaffUserRead:
    return await _staff_user_read(session, await staff_service.enable(session, staff_user_id))
