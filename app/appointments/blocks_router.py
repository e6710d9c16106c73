"""Staff taking capacity away: preview a block, then apply it with the preview's fingerprint."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Header, Path
from fastapi.responses import JSONResponse

from app.appointments.block_schemas import BlockApplied, BlockCreate, BlockPreview
from app.appointments.blocks import block_service
from app.appointments.dependencies import AppSettings, Now, StaffAccess
from app.appointments.errors import CounterNotAtBranch, InvalidBlock
from app.core.auth import MissingRole
from app.core.errors import PreconditionFailed, PreconditionRequired
from app.core.routing import api_router, problem_responses
from app.core.uow import WriteSession
from app.organisation.errors import BranchNotFound

router = api_router("appointments", prefix="/api/v1/appointments")

BranchId = Annotated[uuid.UUID, Path(description="The branch; see `GET /api/v1/branches`.")]
WHO_MAY = (
    "For staff of this branch, supervisors of the department that runs the branches, and "
    "administrators; anybody else gets 403, also for a branch that does not exist."
)
BLOCK_PROBLEMS = (MissingRole, BranchNotFound, InvalidBlock, CounterNotAtBranch)


@router.post(
    "/branches/{branch_id}/blocks/preview",
    response_model=BlockPreview,
    summary="Preview a block: which bookings would lose their place",
    description="A block closes the branch, or one counter (`counter_id`), from `starts_at` "
    "to `ends_at`. The answer lists the bookings that would be cancelled (the most recently "
    "made first where only some of a slot's bookings must go), with a `fingerprint`, also "
    "sent as `ETag`; nothing changes. Apply the block with "
    f"`appointments_apply_block` and that fingerprint as `If-Match`. {WHO_MAY}",
    responses=problem_responses(*BLOCK_PROBLEMS),
)
async def preview_block(
    branch_id: BranchId,
    request: BlockCreate,
    access: StaffAccess,
    session: WriteSession,
    now: Now,
) -> JSONResponse:
    answer = await block_service.preview(session, access, branch_id, request, now)
    return JSONResponse(answer, headers={"ETag": f'"{answer["fingerprint"]}"'})


@router.post(
    "/branches/{branch_id}/blocks",
    response_model=BlockApplied,
    summary="Apply a block: close the time, cancel the bookings it displaces, offer new slots",
    description="In one transaction: the closure is added, the capacity it takes is removed, "
    "and exactly the bookings the preview listed are cancelled. Each of their citizens with "
    "an e-mail address gets a new slot held for them alone for 24 hours (a setting) — the "
    "earliest that fits at the same branch or a nearby one (same district, or within 5 km) — "
    "with a link to accept it or decline and choose another; citizens without one are listed "
    "with `notified_by_email: false` for staff to call. Send the preview's `fingerprint` as "
    "`If-Match`: without it 428, and 412 when the affected bookings have changed since "
    f"(preview again). {WHO_MAY}",
    responses=problem_responses(*BLOCK_PROBLEMS, PreconditionRequired, PreconditionFailed),
)
async def apply_block(
    branch_id: BranchId,
    request: BlockCreate,
    access: StaffAccess,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            max_length=100,
            description="The preview's `fingerprint` (its `ETag`). Required: missing gives "
            "428, outdated 412.",
        ),
    ] = None,
) -> JSONResponse:
    answer = await block_service.apply(session, access, branch_id, request, if_match, now, settings)
    return JSONResponse(answer)
