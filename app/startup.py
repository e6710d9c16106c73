"""What start-up refuses in production: unsafe settings, and development-only providers of
every catalog. `create_app` and the `rathaus` command both ask here."""

from __future__ import annotations

from app.core.config import Settings
from app.identity.registry import production_problems as identity_problems


def production_problems(settings: Settings) -> list[str]:
    """One line per unsafe setting, each naming it; empty outside production."""
    return [*settings.production_problems(), *identity_problems(settings)]
