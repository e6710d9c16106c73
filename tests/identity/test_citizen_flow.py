"""A citizen signs in with the (mock) online ID card, as the BürgerApp would."""

from __future__ import annotations

import httpx

from tests.fixtures.auth import authorize, sign_in


async def test_citizen_signs_in_and_sees_profile_with_attribute_levels(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_in(
        client, "erika", level="high", attributes=("DateOfBirth", "PlaceOfResidence")
    )

    assert tokens.body["token_type"] == "Bearer"
    assert tokens.body["level"] == "high"
    response = await client.get("/api/v1/me", headers=tokens.headers)
    assert response.status_code == 200
    profile = response.json()
    assert profile["level"] == "high"
    attributes = {a["name"]: a for a in profile["attributes"]}
    assert attributes["FamilyNames"]["value"] == "Mustermann"
    assert attributes["DateOfBirth"] == {
        "name": "DateOfBirth",
        "value": "1964-08-12",
        "level": "high",
        "verified": True,
    }
    assert attributes["PlaceOfResidence"]["value"] == {
        "street": "Heidestraße 17",
        "postal_code": "51147",
        "locality": "Köln",
        "country": "D",
    }
    assert "BirthName" not in attributes, "only requested attributes are stored"


async def test_partial_date_of_birth_is_kept_partial(client: httpx.AsyncClient) -> None:
    tokens = await sign_in(client, "ayse", attributes=("DateOfBirth",))

    profile = (await client.get("/api/v1/me", headers=tokens.headers)).json()
    dob = next(a for a in profile["attributes"] if a["name"] == "DateOfBirth")
    assert dob["value"] == "1958"


async def test_cancelled_login_returns_to_frontend_with_error(client: httpx.AsyncClient) -> None:
    result = await authorize(client, "cancel")

    assert result == {
        "error": "access_denied",
        "error_code": "cancelled",
        "state": "frontend-state-1",
    }


async def test_person_without_address_fails_when_address_is_required(
    client: httpx.AsyncClient,
) -> None:
    result = await authorize(client, "lukas", required_attributes=("PlaceOfResidence",))

    assert result["error_code"] == "missing_attribute"
    assert "code" not in result


async def test_substantial_login_is_refused_when_high_is_required(
    client: httpx.AsyncClient,
) -> None:
    result = await authorize(client, "jonas", level="high")

    assert result["error_code"] == "insufficient_level"


async def test_refresh_rotates_and_reuse_revokes_the_session(client: httpx.AsyncClient) -> None:
    tokens = await sign_in(client, "jonas")

    first = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
    )
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != tokens.refresh_token

    reuse = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
    )
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"

    after = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
    )
    assert after.status_code == 400, "the whole family is revoked"
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    )
    assert me.status_code == 401


async def test_logout_ends_the_session_at_once(client: httpx.AsyncClient) -> None:
    tokens = await sign_in(client)

    response = await client.post("/api/v1/auth/logout", headers=tokens.headers)

    assert response.status_code == 200
    assert response.json() == {"logout_url": None}, "the mock eID keeps no session of its own"

    assert (await client.get("/api/v1/me", headers=tokens.headers)).status_code == 401


async def test_low_level_login_gets_403_with_required_level_for_export(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_in(client, "mia", level="low")

    response = await client.get("/api/v1/me/export", headers=tokens.headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["required_level"] == "substantial"
    assert (
        'acr_values="http://eidas.europa.eu/LoA/substantial"'
        in response.headers["www-authenticate"]
    )


async def test_substantial_login_may_export_its_data(client: httpx.AsyncClient) -> None:
    tokens = await sign_in(client, "jonas")

    response = await client.get("/api/v1/me/export", headers=tokens.headers)

    assert response.status_code == 200
    export = response.json()
    assert export["account"]["level"] == "substantial"
    assert len(export["sessions"]) == 1
