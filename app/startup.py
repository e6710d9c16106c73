"""What start-up refuses in production: unsafe settings, and development-only providers of
every catalog. `create_app` and the `rathaus` command both ask here."""

from __future__ import annotations

from app.core.config import Settings
from app.identity.registry import build_registry
from app.identity.registry import production_problems as identity_problems
from app.notifications.transports import build_transport, mail_production_problems


def production_problems(settings: Settings) -> list[str]:
    """One line per unsafe setting, each naming it; empty outside production."""
    return [
        *settings.production_problems(),
        *identity_problems(settings),
        *mail_production_problems(settings),
    ]


def check_providers(settings: Settings) -> None:
    """Build every configured provider once, so that a setting naming an unknown one, or an
    unreadable file, stops the start with one line naming it (a `ConfigurationError`)."""
    build_registry(settings)
    build_transport(settings)
