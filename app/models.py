"""Every table, imported so that Alembic and the tests see the whole schema."""

from app.appointments.models import (
    AppointmentService,
    Booking,
    BranchCalendar,
    BranchService,
    CapacityDay,
    CapacityOffer,
    CapacityOfferPass,
    CapacityReturn,
    CapacityUnit,
    Closure,
    Counter,
    OpeningHours,
    PersonQuota,
    QueueCall,
    WaitingListBranch,
    WaitingListEntry,
    WaitingListQuota,
    WalkInBudget,
    WalkInTicket,
)
from app.core.audit import AuditEntry
from app.core.db import Base
from app.core.idempotency_models import IdempotencyRecord
from app.core.jobs.models import Event, Job, JobSchedule
from app.core.ratelimit import RateLimitCounter
from app.core.references import ReferenceNumber
from app.identity.models import (
    ApiClient,
    AuthorizationCode,
    AuthSession,
    CitizenAccount,
    CitizenAttribute,
    LoginAttempt,
    RefreshToken,
    StaffRoleGrant,
    StaffUser,
)
from app.notifications.models import NotificationDelivery
from app.organisation.models import Branch, Department

__all__ = [
    "ApiClient",
    "AppointmentService",
    "AuditEntry",
    "AuthSession",
    "AuthorizationCode",
    "Base",
    "Booking",
    "Branch",
    "BranchCalendar",
    "BranchService",
    "CapacityDay",
    "CapacityOffer",
    "CapacityOfferPass",
    "CapacityReturn",
    "CapacityUnit",
    "CitizenAccount",
    "CitizenAttribute",
    "Closure",
    "Counter",
    "Department",
    "Event",
    "IdempotencyRecord",
    "Job",
    "JobSchedule",
    "LoginAttempt",
    "NotificationDelivery",
    "OpeningHours",
    "PersonQuota",
    "QueueCall",
    "RateLimitCounter",
    "ReferenceNumber",
    "RefreshToken",
    "StaffRoleGrant",
    "StaffUser",
    "WaitingListBranch",
    "WaitingListEntry",
    "WaitingListQuota",
    "WalkInBudget",
    "WalkInTicket",
]
