"""What real providers send and how they are set up: more claims than asked, groups as one
string, large ID tokens, control characters, secrets with reserved characters, the secret in
the form, incomplete discovery, strict scopes, and the README's own example configuration.
Every refusal ends at `return_to` with an error code and is logged with its reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import ClientAuthentication, OidcProviderSettings, Settings
from app.core.db import Database
from app.main import create_app
from tests.conftest import client_for
from tests.fixtures.factories import create_department
from tests.fixtures.oidc_flow import (
    ALL_ATTRIBUTES,
    BUNDID,
    ERIKA,
    REFUSED,
    STATE,
    UNAVAILABLE,
    attribute_values,
    begin,
    bundid_answers,
    callback_url,
    come_back,
    profile,
    redeem,
    sign_in,
    start_identity_providers,
)
from tests.fixtures.openid_provider import ABSENT, OpenIdProvider, serve
from tests.test_readme import README

MAX = {
    "sub": "8f14e45f-ceea-467f-a0e6-5b0f3c2e1d7a",
    "name": "Max Sachbearbeiter",
    "groups": ["/rathaus/clerk/department/51"],
}
MISSING = {"error": "access_denied", "error_code": "missing_attribute", "state": STATE}


@asynccontextmanager
async def client_with(
    settings: Settings, db: Database, *providers: OpenIdProvider, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app started with other settings, reaching these providers."""
    app = create_app(settings.model_copy(update=changes), database=db)
    async with httpx.AsyncClient(transport=serve(*providers)) as http:
        start_identity_providers(app, http)
        async with client_for(app) as client:
            yield client


def log_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


async def staff_signs_in(
    client: httpx.AsyncClient, keycloak: OpenIdProvider, claims: dict[str, Any]
) -> dict[str, str]:
    login = await begin(client, keycloak, "keycloak-staff", staff=True)
    return await come_back(client, keycloak.log_in(login.state, claims))


async def staff_me(
    client: httpx.AsyncClient, keycloak: OpenIdProvider, claims: dict[str, Any]
) -> dict[str, Any]:
    login = await begin(client, keycloak, "keycloak-staff", staff=True)
    tokens = await redeem(
        client, login, await come_back(client, keycloak.log_in(login.state, claims))
    )
    response = await client.get("/api/v1/staff/me", headers=tokens.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# More than was asked


async def test_a_malformed_attribute_nobody_asked_for_is_dropped_with_a_warning(
    client: httpx.AsyncClient, bundid: OpenIdProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = await sign_in(client, bundid, {**ERIKA, "geburtsdatum": "12.08.1964"})

    me = await profile(client, tokens)
    assert attribute_values(me) == {"FamilyNames": "Mustermann", "GivenNames": "Erika"}
    err = capsys.readouterr().err
    [warning] = [e for e in log_lines(err) if e["event"] == "auth.unrequested_attribute_dropped"]
    assert warning["level"] == "warning"
    assert warning["provider"] == "bundid"
    assert warning["attribute"] == "DateOfBirth"
    assert "12.08.1964" not in err


@pytest.mark.parametrize(
    ("claims", "asked"),
    [
        ({"geburtsdatum": "12.08.1964"}, "DateOfBirth"),
        ({"geburtsdatum": "19640230"}, "DateOfBirth"),
        ({"anschrift": {"street_address": "Heidestraße 17"}}, "PlaceOfResidence"),
        ({"nachname": {"de": "Mustermann"}}, "FamilyNames"),
    ],
    ids=["german-date", "impossible-date", "address-without-locality", "name-not-a-string"],
)
async def test_a_malformed_attribute_the_login_asked_for_is_missing_attribute(
    client: httpx.AsyncClient, bundid: OpenIdProvider, claims: dict[str, Any], asked: str
) -> None:
    login = await begin(client, bundid, attributes=(asked,))

    result = await come_back(client, bundid.log_in(login.state, {**ERIKA, **claims}))

    assert result == MISSING


# What Keycloak really sends


async def test_a_single_group_sent_as_a_string_grants_its_role(
    client: httpx.AsyncClient, session: AsyncSession, staff_keycloak: OpenIdProvider
) -> None:
    department = await create_department(session, code="51")

    me = await staff_me(client, staff_keycloak, {**MAX, "groups": "/rathaus/clerk/department/51"})

    assert me["roles"] == [
        {"role": "clerk", "scope_type": "department", "scope_id": str(department.id)}
    ]


def hundreds_of_groups() -> list[str]:
    return ["/rathaus/clerk/department/51"] + [
        f"/stadt/dezernat-{n // 40}/amt-{n}/sachgebiet-verwaltung-und-organisation"
        for n in range(700)
    ]


async def test_an_id_token_of_40_kib_with_hundreds_of_groups_signs_the_clerk_in(
    client: httpx.AsyncClient, session: AsyncSession, staff_keycloak: OpenIdProvider
) -> None:
    await create_department(session, code="51")

    me = await staff_me(client, staff_keycloak, {**MAX, "groups": hundreds_of_groups()})

    [token] = staff_keycloak.issued_id_tokens
    assert 40_000 < len(token) < 65_536
    assert [r["role"] for r in me["roles"]] == ["clerk"]


async def test_an_id_token_over_the_configured_bound_is_refused(
    settings: Settings,
    db: Database,
    session: AsyncSession,
    staff_keycloak: OpenIdProvider,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await create_department(session, code="51")
    async with client_with(settings, db, staff_keycloak, oidc_max_id_token_bytes=16_384) as client:
        result = await staff_signs_in(
            client, staff_keycloak, {**MAX, "groups": hundreds_of_groups()}
        )

    assert result == REFUSED
    [refusal] = [
        e for e in log_lines(capsys.readouterr().err) if e["event"] == "auth.login_refused"
    ]
    assert refusal["reason"] == "id_token: not a compact JWS"


# Control characters (PostgreSQL cannot store NUL at all)


@pytest.mark.parametrize("subject", ["bPK2:abc\x00def", "bPK2:abc\x1bdef", "bPK2:\u2028"])
async def test_a_pseudonym_with_control_characters_is_refused(
    client: httpx.AsyncClient, bundid: OpenIdProvider, subject: str
) -> None:
    assert await bundid_answers(client, bundid, {**ERIKA, "bPK2": subject}) == REFUSED


async def test_a_name_with_control_characters_is_missing_attribute_for_a_citizen(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    result = await bundid_answers(client, bundid, {**ERIKA, "nachname": "Muster\x00mann"})

    assert result == MISSING


async def test_staff_name_and_groups_with_control_characters_are_cleaned_not_stored(
    client: httpx.AsyncClient, session: AsyncSession, staff_keycloak: OpenIdProvider
) -> None:
    await create_department(session, code="51")
    claims = {
        **MAX,
        "name": "Max\x00 Sach\x1bbearbeiter",
        "groups": ["/rathaus/clerk/department/51", "/rathaus/admin\x00"],
    }

    me = await staff_me(client, staff_keycloak, claims)

    assert me["display_name"] == "Max Sach bearbeiter"
    assert [r["role"] for r in me["roles"]] == ["clerk"]


# Client authentication at the token endpoint


async def test_a_secret_with_reserved_and_non_ascii_characters_works_with_client_secret_basic(
    settings: Settings, db: Database
) -> None:
    secret = "Schlüssel:ä€/?#&=+% x"
    bundid = OpenIdProvider(
        issuer=BUNDID.issuer,
        client_id=BUNDID.client_id,
        client_secret=secret,
        redirect_uris=(callback_url("bundid"),),
    )
    config = BUNDID.model_copy(update={"client_secret": secret})
    async with client_with(
        settings, db, bundid, oidc_providers=[config], identity_providers=["bundid"]
    ) as client:
        tokens = await sign_in(client, bundid, ERIKA)

    assert tokens.body["level"] == "substantial"
    assert [r.client_auth for r in bundid.token_requests] == ["client_secret_basic"]


async def test_client_secret_post_sends_the_secret_in_the_form_not_in_a_header(
    settings: Settings, db: Database
) -> None:
    bundid = OpenIdProvider(
        issuer=BUNDID.issuer,
        client_id=BUNDID.client_id,
        client_secret=BUNDID.client_secret,
        redirect_uris=(callback_url("bundid"),),
        token_endpoint_auth_method="client_secret_post",
    )
    config = BUNDID.model_copy(update={"token_endpoint_auth_method": ClientAuthentication.post})
    async with client_with(
        settings, db, bundid, oidc_providers=[config], identity_providers=["bundid"]
    ) as client:
        tokens = await sign_in(client, bundid, ERIKA)

    assert tokens.body["level"] == "substantial"
    [request] = bundid.token_requests
    assert request.client_auth == "client_secret_post"
    assert request.form["client_secret"] == BUNDID.client_secret


# Discovery


@pytest.mark.parametrize("endpoint", ["authorization_endpoint", "token_endpoint", "jwks_uri"])
@pytest.mark.parametrize(
    "value", [None, ABSENT, "", "not a url", 42], ids=["null", "absent", "empty", "text", "number"]
)
async def test_discovery_without_a_usable_endpoint_is_provider_unavailable(
    client: httpx.AsyncClient, bundid: OpenIdProvider, endpoint: str, value: object
) -> None:
    bundid.discovery_overrides[endpoint] = value

    response = await client.get(
        "/api/v1/auth/bundid/login",
        params={
            "return_to": "http://localhost:3000/callback",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "state": STATE,
        },
    )

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("http://localhost:3000/callback?")
    assert "None" not in location
    assert dict(httpx.URL(location).params) == UNAVAILABLE


# Scopes: the README's example against a strict provider


def readme_providers() -> list[OidcProviderSettings]:
    block = re.search(r"```json\n(\[\{\"id\": \"bundid\".*?)\n```", README, re.DOTALL)
    assert block is not None, "the README shows an example RATHAUS_OIDC_PROVIDERS"
    return [OidcProviderSettings.model_validate(p) for p in json.loads(block.group(1))]


async def test_the_readmes_example_configuration_gets_names_from_a_strict_provider(
    settings: Settings, db: Database
) -> None:
    providers = readme_providers()
    citizen = providers[0]
    strict = OpenIdProvider(
        issuer=citizen.issuer,
        client_id=citizen.client_id,
        client_secret=citizen.client_secret,
        redirect_uris=(callback_url(citizen.id),),
        strict_scopes=True,
    )
    claims = {
        "bPK2": "bPK2:c3RyaWN0LXByb3ZpZGVy",
        "family_name": "Mustermann",
        "given_name": "Erika",
        "birthdate": "1964-08-12",
        "acr": "http://eidas.europa.eu/LoA/substantial",
    }
    async with client_with(
        settings, db, strict, oidc_providers=providers, identity_providers=["bundid", "keycloak"]
    ) as client:
        login = await begin(client, strict, "bundid", attributes=("DateOfBirth",))
        tokens = await redeem(
            client, login, await come_back(client, strict.log_in(login.state, claims))
        )
        me = await profile(client, tokens)

    assert set(login.request.scope) == {"openid", "profile", "email", "address"}
    assert attribute_values(me) == {
        "FamilyNames": "Mustermann",
        "GivenNames": "Erika",
        "DateOfBirth": "1964-08-12",
    }


def test_default_scopes_follow_the_claim_mapping_and_configured_scopes_win() -> None:
    staff = readme_providers()[1]
    assert staff.requested_scopes(["email"]) == ["openid", "profile", "email"]
    assert BUNDID.requested_scopes(["nachname"]) == ["openid", "profile"]
    custom = OidcProviderSettings.model_validate(
        {
            "id": "eid",
            "display_name": "eID",
            "issuer": "https://eid.example",
            "client_id": "c",
            "claim_mapping": {"FamilyNames": "nachname"},
        }
    )
    assert custom.requested_scopes(["nachname"]) == ["openid"]


# Logging a refusal


async def test_a_refused_sign_in_is_logged_with_check_provider_and_request_id_only(
    client: httpx.AsyncClient, bundid: OpenIdProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await bundid_answers(
        client, bundid, {**ERIKA, "iss": "https://id.evil.example/realms/buergerkonto"}
    )

    assert result == REFUSED
    err = capsys.readouterr().err
    [refusal] = [e for e in log_lines(err) if e["event"] == "auth.login_refused"]
    assert refusal["level"] == "warning"
    assert refusal["provider"] == "bundid"
    assert refusal["kind"] == "invalid_response"
    assert refusal["reason"] == "id_token: wrong issuer"
    assert re.fullmatch(r"[0-9a-f]{32}", refusal["request_id"])
    for personal in ("Mustermann", "Erika", ERIKA["bPK2"], "eyJ", *ALL_ATTRIBUTES[:0]):
        assert personal not in err
