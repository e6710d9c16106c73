"""Control characters and broken Unicode get 422 wherever they are sent, and nothing is stored.

PostgreSQL cannot store U+0000, so without this refusal such input would be a 500 there.
"""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.identity.models import ApiClient, LoginAttempt
from tests.fixtures.auth import RETURN_TO, Pkce, sign_in

CLIENTS = "/api/v1/admin/clients"
UNSAFE = ["\x00", "\x1b[31m", "\x7f", "\ud800"]


def assert_points_at(response: httpx.Response, *pointers: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://rathaus.example/problems/validation-failed"
    assert [error["pointer"] for error in body["errors"]] == list(pointers)
    assert all("Steuerzeichen" in error["detail"] for error in body["errors"])


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> dict[str, str]:
    return (await sign_in(client, "admin", staff=True)).headers


async def count(session: AsyncSession, model: type[object]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "\x1f"])
async def test_sign_in_whose_state_has_a_control_character_gets_422_and_starts_no_login(
    client: httpx.AsyncClient, session: AsyncSession, bad: str
) -> None:
    response = await client.get(
        "/api/v1/auth/mock-eid/login",
        params={"return_to": RETURN_TO, "code_challenge": Pkce.new().challenge, "state": bad},
    )

    assert_points_at(response, "#/query/state")
    assert await count(session, LoginAttempt) == 0


async def test_callback_whose_state_is_a_null_byte_gets_422(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/auth/mock-eid/callback", params={"state": "\x00", "code": "x"}
    )

    assert_points_at(response, "#/query/state")


async def test_form_field_with_a_null_byte_gets_422_pointing_at_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": "cl_\x00", "client_secret": "s"},
    )

    assert_points_at(response, "#/client_id")


@pytest.mark.parametrize("bad", UNSAFE)
async def test_json_member_with_unsafe_text_gets_422_and_creates_nothing(
    client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str], bad: str
) -> None:
    # json.dumps escapes them (\u0000, \ud800), as any JSON encoder sends them.
    body = json.dumps({"name": f"Fach{bad}verfahren", "scopes": ["branches:read"]})
    response = await client.post(
        CLIENTS, content=body, headers={**admin, "Content-Type": "application/json"}
    )

    assert_points_at(response, "#/name")
    assert await count(session, ApiClient) == 0


async def test_unsafe_text_deep_in_a_list_and_in_a_key_is_pointed_at(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        CLIENTS,
        content='{"name": "Fachverfahren", "scopes": ["branches:read", "a\\u0000"], "x\\u0000": 1}',
        headers={**admin, "Content-Type": "application/json"},
    )

    assert_points_at(response, "#/scopes/1", "#/x\x00")


async def test_tabs_and_line_breaks_are_ordinary_text(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        CLIENTS,
        json={"name": "Fach-\tverfahren\r\nJugendamt", "scopes": ["branches:read"]},
        headers=admin,
    )

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Fach-\tverfahren\r\nJugendamt"


async def test_path_parameter_with_a_control_character_gets_422(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/auth/mock%01eid/login")

    assert_points_at(response, "#/path/provider")


async def test_english_callers_get_the_refusal_in_english(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/branches", params={"cursor": "\x00"}, headers={"Accept-Language": "en"}
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "pointer": "#/query/cursor",
            "detail": "The text contains control characters or invalid Unicode characters.",
        }
    ]
