"""The worker's registry: the platform's jobs plus each domain's."""

from app.appointments.tasks import appointments_registry
from app.core.jobs.builtin import core_registry
from app.core.jobs.registry import JobRegistry
from app.identity.tasks import identity_registry
from app.notifications.tasks import notifications_registry


def build_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.include(core_registry())
    registry.include(identity_registry())
    registry.include(notifications_registry())
    registry.include(appointments_registry())
    return registry
