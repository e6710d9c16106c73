"""What the appointment routes need besides their input: the time, the settings, the
database for on-demand releases, and the rate limits of the public calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from app.appointments.branch_day import BranchAccess, branch_day_service
from app.core.auth import Access, Staff
from app.core.config import Settings
from app.core.db import Database, utcnow
from app.core.i18n import Text
from app.core.limiter import Quota
from app.core.principal import Principal, PrincipalType, Role
from app.core.ratelimit import RateLimited
from app.core.uow import ReadSession


async def current_time() -> datetime:
    """The moment a request is answered at; tests override it to stand at other dates."""
    return utcnow()


async def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def app_database(request: Request) -> Database:
    """For releasing missing days on demand in a transaction of their own."""
    database: Database = request.app.state.database
    return database


TOO_MANY_HOLDS = Text(
    de="Von Ihrer Adresse aus wurden in den letzten Minuten zu viele Termine vorgemerkt. "
    "Bitte versuchen Sie es in einigen Minuten erneut.",
    en="Too many appointments have been held from your address in the last few minutes. "
    "Please try again in a few minutes.",
)

reads_allowed = RateLimited(
    "appointments-reads", limits=lambda settings: settings.availability_rate_limit
)
"""Services, availability and earliest starts share one budget per client address: they
are computed live, and a bot polling them would load the calendar for everybody."""

holds_allowed = RateLimited(
    "appointments-hold-attempts",
    limits=lambda settings: settings.hold_rate_limit,
    quota=lambda settings: Quota(
        "appointments-holds", settings.holds_per_address, settings.hold_ttl_seconds
    ),
    quota_detail=TOO_MANY_HOLDS,
)
"""A hold blocks a slot for everybody for its lifetime: per client address, attempts are
limited, and so are the holds made within one hold lifetime; a refused hold counts only as
an attempt."""


Now = Annotated[datetime, Depends(current_time)]
AppSettings = Annotated[Settings, Depends(app_settings)]
AppDatabase = Annotated[Database, Depends(app_database)]
AvailabilityRateLimit = Depends(reads_allowed)
HoldRateLimit = Depends(holds_allowed)


BRANCH_WORKER = Access(
    frozenset({PrincipalType.staff}), some_role=frozenset({Role.branch_staff, Role.supervisor})
)
BranchWorker = Annotated[Principal, Depends(BRANCH_WORKER)]
"""Staff of some branch, a supervisor or an administrator: who may come near a branch's
figures at all. Which branches exactly needs the database, and is checked after."""


async def staff_access(
    principal: Staff, session: ReadSession, settings: AppSettings
) -> BranchAccess:
    """The branches a staff member may act at, from their grants."""
    return await branch_day_service.access(session, principal, settings)


async def branch_worker_access(
    principal: BranchWorker, session: ReadSession, settings: AppSettings
) -> BranchAccess:
    """The branches of staff of some branch, a supervisor or an administrator."""
    return await branch_day_service.access(session, principal, settings)


StaffAccess = Annotated[BranchAccess, Depends(staff_access)]
BranchWorkerAccess = Annotated[BranchAccess, Depends(branch_worker_access)]
