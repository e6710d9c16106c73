"""The worker's registry: the platform's jobs plus each domain's (added by later issues)."""

from app.core.jobs.builtin import core_registry
from app.core.jobs.registry import JobRegistry


def build_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.include(core_registry())
    return registry
