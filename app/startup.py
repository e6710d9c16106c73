"""What start-up refuses in production: unsafe settings, and development-only providers of
every catalog. `create_app` and the `rathaus` command both ask here."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.core.config import Settings
from app.identity.adapters.oidc import check_providers
from app.identity.jwt import read_signing_key_file
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


def check_configuration(settings: Settings) -> None:
    """Build every configured provider and read the signing key once, so that a setting naming
    an unknown provider, or an unreadable or weak file, stops the start with one line naming
    it (a `ConfigurationError`)."""
    if settings.jwt_private_key_file:
        read_signing_key_file(Path(settings.jwt_private_key_file))
    build_registry(settings)
    build_transport(settings)


PROVIDER_CHECK_TIMEOUT_SECONDS = 5.0


async def check_identity_providers(settings: Settings) -> None:
    """Ask each enabled OpenID provider once which algorithms it signs with; a `ConfigurationError`
    if we could verify none of them. `rathaus serve` runs this before the server starts, not
    each worker in its lifespan: uvicorn restarts a worker that fails to start, which would
    ask the provider again and again instead of stopping with one line."""
    async with httpx.AsyncClient(timeout=PROVIDER_CHECK_TIMEOUT_SECONDS) as http:
        await check_providers(settings, http)
