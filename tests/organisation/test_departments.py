from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.factories import create_department


async def test_departments_are_listed_with_german_and_english_names(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await create_department(session, code="51", name_de="Jugendamt", name_en="Youth Welfare Office")
    await create_department(session, code="33", name_de="Bürgerdienste", name_en="Citizen Services")
    await session.commit()

    response = await client.get("/api/v1/departments")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [d["code"] for d in items] == ["33", "51"]
    assert items[1]["name"] == {"de": "Jugendamt", "en": "Youth Welfare Office"}


async def test_department_is_fetched_with_etag(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    department = await create_department(session)
    await session.commit()

    response = await client.get(f"/api/v1/departments/{department.id}")

    assert response.status_code == 200
    assert response.headers["etag"] == '"v1"'
    assert response.json()["id"] == str(department.id)


async def test_unknown_department_gets_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/departments/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json()["title"] == "Fachbereich nicht gefunden"


async def test_limit_over_100_gets_422_naming_the_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/departments", params={"limit": 101})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"pointer": "#/query/limit", "detail": "Der Wert darf höchstens 100 sein."}
    ]
