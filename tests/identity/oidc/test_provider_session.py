"""The provider keeps a login session, as Keycloak and BundID do: logging out must end it too,
and a login that needs a higher level must make the provider authenticate again.

The scene is a kiosk PC in a citizen office (`Browser`): one person signs in and out, the
next sits down.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.identity.models import AuthSession
from tests.fixtures.auth import Pkce, Tokens, query_of
from tests.fixtures.factories import create_department
from tests.fixtures.oidc_flow import (
    BUNDID_CLIENT,
    ERIKA,
    INSUFFICIENT,
    SIGNED_OUT,
    STAFF_CLIENT,
    begin,
    come_back,
    profile,
    redeem,
    start,
)
from tests.fixtures.openid_provider import Browser, OpenIdProvider

ERIKA_LOW = {**ERIKA, "acr": "urn:stadt:vertrauensniveau:basis"}
"""Erika at BundID with username and password: level low, no ID card."""
ERIKA_HIGH = {**ERIKA, "acr": "STORK-QAA-Level-4"}
"""Erika with her ID card: level high."""
MAX = {
    "sub": "8f14e45f-ceea-467f-a0e6-5b0f3c2e1d7a",
    "name": "Max Sachbearbeiter",
    "groups": ["/rathaus/clerk/department/51"],
}


async def signs_in(
    client: httpx.AsyncClient,
    provider: OpenIdProvider,
    browser: Browser,
    claims: dict[str, Any],
    *,
    provider_id: str = "bundid",
    staff: bool = False,
    level: str = "low",
) -> Tokens:
    """A sign-in in `browser` that shows the provider's login form, where `claims` log in."""
    login = await begin(client, provider, provider_id, staff=staff, level=level, browser=browser)
    result = await come_back(client, provider.log_in(login.state, claims))
    return await redeem(client, login, result)


async def next_sign_in(
    client: httpx.AsyncClient,
    provider: OpenIdProvider,
    browser: Browser,
    *,
    provider_id: str = "bundid",
    staff: bool = False,
    level: str = "low",
) -> tuple[bool, Pkce, str | None]:
    """The next person at `browser` starts a sign-in: was a login form shown, and if not,
    where did the provider send the browser."""
    pkce, page = await start(
        client, provider, provider_id, staff=staff, level=level, browser=browser
    )
    return page.login_form_shown, pkce, page.redirect


async def log_out(
    client: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any] | None = None
) -> str:
    response = await client.post("/api/v1/auth/logout", headers=tokens.headers, json=body)
    assert response.status_code == 200, response.text
    url = response.json()["logout_url"]
    assert isinstance(url, str), response.json()
    return url


# The provider keeps its session


async def test_without_logging_out_at_the_provider_the_next_person_gets_the_previous_account(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    kiosk = Browser()
    erika = await signs_in(client, bundid, kiosk, ERIKA_LOW)

    form_shown, pkce, redirect = await next_sign_in(client, bundid, kiosk)

    assert not form_shown, "the provider signs the browser in from its session"
    assert redirect is not None
    somebody = await redeem(client, pkce, await come_back(client, redirect))
    assert (await profile(client, somebody))["id"] == (await profile(client, erika))["id"]


# Logout ends the provider's session


async def test_citizen_logout_ends_the_provider_session_and_the_next_person_sees_a_login_form(
    client: httpx.AsyncClient, bundid: OpenIdProvider, session: AsyncSession
) -> None:
    kiosk = Browser()
    erika = await signs_in(client, bundid, kiosk, ERIKA_LOW)
    [issued] = [r for r in bundid.token_requests if r.refusal is None]

    logout_url = await log_out(client, erika, {"return_to": SIGNED_OUT, "state": "bye-1"})

    parts = urlsplit(logout_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == bundid.end_session_endpoint
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["client_id"] == BUNDID_CLIENT
    assert query["post_logout_redirect_uri"] == SIGNED_OUT
    assert query["state"] == "bye-1"
    assert query["id_token_hint"] in bundid.issued_id_tokens, "the ID token Erika signed in with"
    assert issued.refusal is None
    assert (await client.get("/api/v1/me", headers=erika.headers)).status_code == 401

    # The frontend sends the browser there; the provider ends its session and comes back.
    provider_answer = await bundid.visit(logout_url, kiosk)
    assert provider_answer.status_code == 302
    assert provider_answer.headers["location"] == f"{SIGNED_OUT}?state=bye-1"
    assert bundid.sessions == {}

    form_shown, _pkce, _redirect = await next_sign_in(client, bundid, kiosk)
    assert form_shown, "the next person at the kiosk must sign in themselves"


async def test_staff_logout_ends_the_keycloak_session_too(
    client: httpx.AsyncClient, staff_keycloak: OpenIdProvider, session: AsyncSession
) -> None:
    await create_department(session, code="51")
    kiosk = Browser()
    maxi = await signs_in(
        client, staff_keycloak, kiosk, MAX, provider_id="keycloak-staff", staff=True
    )
    form_shown, _pkce, _redirect = await next_sign_in(
        client, staff_keycloak, kiosk, provider_id="keycloak-staff", staff=True
    )
    assert not form_shown, "Keycloak keeps the clerk signed in until logged out there"

    logout_url = await log_out(client, maxi, {"return_to": SIGNED_OUT})

    query = query_of(logout_url)
    assert logout_url.startswith(staff_keycloak.end_session_endpoint + "?")
    assert query["client_id"] == STAFF_CLIENT
    assert "id_token_hint" in query
    assert (await staff_keycloak.visit(logout_url, kiosk)).status_code == 302
    assert staff_keycloak.sessions == {}
    form_shown, _pkce, _redirect = await next_sign_in(
        client, staff_keycloak, kiosk, provider_id="keycloak-staff", staff=True
    )
    assert form_shown
    assert (await client.get("/api/v1/staff/me", headers=maxi.headers)).status_code == 401


async def test_logout_without_return_to_lets_the_provider_show_its_own_signed_out_page(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    kiosk = Browser()
    erika = await signs_in(client, bundid, kiosk, ERIKA_LOW)

    logout_url = await log_out(client, erika)

    assert "post_logout_redirect_uri" not in query_of(logout_url)
    page = await bundid.visit(logout_url, kiosk)
    assert page.status_code == 200
    assert "abgemeldet" in page.text
    assert bundid.sessions == {}


async def test_logout_with_a_return_to_off_the_allow_list_is_refused_and_keeps_the_session(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    erika = await signs_in(client, bundid, Browser(), ERIKA_LOW)

    response = await client.post(
        "/api/v1/auth/logout",
        headers=erika.headers,
        json={"return_to": "https://evil.example/phish"},
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/return-to-not-allowed")
    assert (await client.get("/api/v1/me", headers=erika.headers)).status_code == 200


async def test_the_id_token_is_kept_sealed_and_only_until_the_session_ends(
    client: httpx.AsyncClient, bundid: OpenIdProvider, session: AsyncSession
) -> None:
    erika = await signs_in(client, bundid, Browser(), ERIKA_LOW)
    [id_token] = bundid.issued_id_tokens
    [kept] = (await session.scalars(select(AuthSession.provider_logout_hint))).all()
    assert kept is not None
    assert id_token not in kept, "sealed, not readable"
    assert id_token.split(".")[1] not in kept

    await log_out(client, erika)

    session.expire_all()
    assert (await session.scalars(select(AuthSession.provider_logout_hint))).all() == [None]


# Step-up reaches the ID card


async def test_step_up_from_substantial_to_high_shows_the_login_again_and_gives_high(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    kiosk = Browser()
    await signs_in(client, bundid, kiosk, ERIKA, level="substantial")

    login = await begin(client, bundid, level="high", browser=kiosk)

    assert login.request.prompt == ("login",)
    assert login.request.max_age == 0
    assert login.request.claims == {
        "id_token": {"acr": {"essential": True, "values": ["http://eidas.europa.eu/LoA/high"]}}
    }
    result = await come_back(client, bundid.log_in(login.state, ERIKA_HIGH))
    tokens = await redeem(client, login, result)
    assert tokens.body["level"] == "high"
    assert (await profile(client, tokens))["level"] == "high"


async def test_a_provider_that_ignores_prompt_login_cannot_pass_off_an_old_session(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    bundid.honours_prompt = False
    kiosk = Browser()
    await signs_in(client, bundid, kiosk, ERIKA_HIGH, level="high")
    for running in bundid.sessions.values():
        running.auth_time -= 600  # Erika used her ID card ten minutes ago

    form_shown, _pkce, redirect = await next_sign_in(client, bundid, kiosk, level="high")

    assert not form_shown
    assert redirect is not None
    assert await come_back(client, redirect) == INSUFFICIENT


async def test_staff_and_low_level_sign_ins_may_use_the_provider_session(
    client: httpx.AsyncClient, bundid: OpenIdProvider, staff_keycloak: OpenIdProvider
) -> None:
    login = await begin(client, bundid, level="low")
    staff_login = await begin(client, staff_keycloak, "keycloak-staff", staff=True)

    for request in (login.request, staff_login.request):
        assert request.prompt == ()
        assert request.max_age is None


async def test_a_logout_body_is_checked_strictly_but_only_after_the_token(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    erika = await signs_in(client, bundid, Browser(), ERIKA_LOW)
    bad_bodies: list[dict[str, Any]] = [
        {"json": {"return_to": 5}},
        {"json": {"return_to": SIGNED_OUT, "also": "this"}},
        {"json": {"state": "x" * 201}},
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ]

    anonymous = await client.post("/api/v1/auth/logout", json={"return_to": 5})
    answers = [
        await client.post(
            "/api/v1/auth/logout",
            **{**body, "headers": {**erika.headers, **body.get("headers", {})}},
        )
        for body in bad_bodies
    ]
    as_text = await client.post(
        "/api/v1/auth/logout",
        content=b"return_to=x",
        headers={**erika.headers, "content-type": "text/plain"},
    )

    assert anonymous.status_code == 401
    assert [a.status_code for a in answers] == [422, 422, 422, 400]
    assert as_text.status_code == 415
    for answer in [anonymous, *answers, as_text]:
        assert answer.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/me", headers=erika.headers)).status_code == 200
