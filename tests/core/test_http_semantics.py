"""HTTP semantics integrators rely on: HEAD wherever GET is answered, and a 405 that names
every method the path answers."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.factories import create_branch


async def test_head_answers_like_get_without_a_body(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await create_branch(session)
    await session.commit()

    got = await client.get("/api/v1/branches")
    head = await client.head("/api/v1/branches")

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers["x-request-id"]


async def test_head_of_an_unknown_resource_is_404_without_a_body(
    client: httpx.AsyncClient,
) -> None:
    response = await client.head(f"/api/v1/branches/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.content == b""
    assert response.headers["content-type"] == "application/problem+json"


async def test_head_of_the_operational_and_docs_routes_is_answered(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/healthz", "/openapi.json", "/docs", "/.well-known/jwks.json", "/metrics"):
        response = await client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/v1/branches", "GET, HEAD"),
        ("DELETE", "/api/v1/branches/{id}", "GET, HEAD, PATCH"),
        ("PUT", "/api/v1/departments/{id}", "GET, HEAD, PATCH"),
        ("PATCH", "/api/v1/admin/clients/{id}", "DELETE, GET, HEAD"),
        ("GET", "/api/v1/auth/token", "POST"),
        ("POST", "/healthz", "GET, HEAD"),
    ],
)
async def test_405_names_every_method_the_path_answers(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path.replace("{id}", str(uuid.uuid4())))

    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 405


async def test_a_mistyped_query_parameter_is_refused_not_ignored(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/branches?limt=5")

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"pointer": "#/query/limt", "detail": "Diesen Parameter gibt es hier nicht."}
    ]


async def test_a_providers_callback_takes_whatever_query_the_provider_sends(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v1/auth/mock-eid/callback",
        params={"state": "unknown", "code": "x", "session_state": "abc", "iss": "urn:x"},
    )

    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-login-state")
