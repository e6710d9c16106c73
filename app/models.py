"""Every table, imported so that Alembic and the tests see the whole schema."""

from app.appointments.models import Branch
from app.core.audit import AuditEntry
from app.core.db import Base
from app.core.idempotency_models import IdempotencyRecord
from app.core.jobs.models import Event, Job, JobSchedule
from app.services.models import Department

__all__ = [
    "AuditEntry",
    "Base",
    "Branch",
    "Department",
    "Event",
    "IdempotencyRecord",
    "Job",
    "JobSchedule",
]
