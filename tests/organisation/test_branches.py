from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.factories import create_branch


async def test_branches_are_listed_by_name_across_pages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for name in ["Bürgerdienste Hörde", "Bürgerdienste Aplerbeck", "Bürgerdienste Mengede"]:
        await create_branch(session, name=name)
    await session.commit()

    first = await client.get("/api/v1/branches", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [b["name"] for b in page["items"]] == ["Bürgerdienste Aplerbeck", "Bürgerdienste Hörde"]
    assert page["next_cursor"]

    second = await client.get(
        "/api/v1/branches", params={"limit": 2, "cursor": page["next_cursor"]}
    )
    assert [b["name"] for b in second.json()["items"]] == ["Bürgerdienste Mengede"]
    assert second.json()["next_cursor"] is None


async def test_branch_has_address_and_etag(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    branch = await create_branch(session, street="Südwall", house_number="2-4", postal_code="44137")
    await session.commit()

    response = await client.get(f"/api/v1/branches/{branch.id}")

    assert response.status_code == 200
    assert response.headers["etag"] == '"v1"'
    body = response.json()
    assert body["address"] == {
        "street": "Südwall",
        "house_number": "2-4",
        "postal_code": "44137",
        "city": "Dortmund",
    }


async def test_unknown_branch_gets_404_problem_in_english(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"/api/v1/branches/{uuid.uuid4()}", headers={"Accept-Language": "en-GB,en;q=0.9"}
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Branch not found"
    assert problem["type"].endswith("/branch-not-found")


async def test_malformed_branch_id_gets_422_with_pointer(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/branches/not-a-uuid")

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"pointer": "#/path/branch_id", "detail": "Erwartet wird eine gültige UUID."}
    ]
