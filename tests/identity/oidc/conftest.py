"""The in-test OpenID providers (BundID behind Keycloak, the staff Keycloak, an attacker) and
an app whose identity adapters reach them, for every OIDC sign-in test in this package."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.conftest import make_settings
from tests.fixtures.oidc_flow import (
    BUNDID,
    BUNDID_CLIENT,
    BUNDID_ISSUER,
    BUNDID_SECRET,
    LEEWAY,
    PUBLIC_BASE_URL,
    SIGNED_OUT,
    STAFF,
    STAFF_CLIENT,
    STAFF_ISSUER,
    callback_url,
    start_identity_providers,
)
from tests.fixtures.openid_provider import OpenIdProvider, serve


@pytest.fixture
def bundid() -> OpenIdProvider:
    return OpenIdProvider(
        issuer=BUNDID_ISSUER,
        client_id=BUNDID_CLIENT,
        client_secret=BUNDID_SECRET,
        redirect_uris=(callback_url("bundid"),),
        post_logout_redirect_uris=(SIGNED_OUT,),
    )


@pytest.fixture
def staff_keycloak() -> OpenIdProvider:
    return OpenIdProvider(
        issuer=STAFF_ISSUER,
        client_id=STAFF_CLIENT,
        redirect_uris=(callback_url("keycloak-staff", staff=True),),
        post_logout_redirect_uris=(SIGNED_OUT,),
    )


@pytest.fixture
def attacker() -> OpenIdProvider:
    """Somebody else's provider: its keys and URLs show up in forged tokens."""
    return OpenIdProvider(
        issuer="https://attacker.example/realms/evil",
        client_id=BUNDID_CLIENT,
        redirect_uris=(callback_url("bundid"),),
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        public_base_url=PUBLIC_BASE_URL,
        jwt_leeway_seconds=LEEWAY,
        identity_providers=["bundid", "keycloak-staff"],
        oidc_providers=[BUNDID, STAFF],
    )


@pytest.fixture
async def provider_http(
    bundid: OpenIdProvider, staff_keycloak: OpenIdProvider, attacker: OpenIdProvider
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=serve(bundid, staff_keycloak, attacker)) as http:
        yield http


@pytest.fixture
def app(app: FastAPI, provider_http: httpx.AsyncClient) -> FastAPI:
    start_identity_providers(app, provider_http)
    return app
