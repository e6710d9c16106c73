"""The signed-in staff member and their roles."""

from __future__ import annotations

from app.core.auth import InvalidAccessToken, Staff
from app.core.routing import api_router
from app.core.uow import ReadSession
from app.identity.models import StaffUser
from app.identity.schemas import RoleGrantRead, StaffProfileRead

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
