"""Types are strict: `"yes"` is not a boolean, `1.0` is not a page size, and the reason is
given in the caller's language without a library's English."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.organisation.models import Branch, Department
from tests.fixtures.auth import sign_in
from tests.fixtures.factories import create_branch, create_department


@pytest.fixture
async def hoerde(session: AsyncSession) -> Branch:
    branch = await create_branch(session, code="hoerde", wheelchair_accessible=False)
    await session.commit()
    return branch


async def edit_branch(
    client: httpx.AsyncClient, branch: Branch, body: dict[str, object]
) -> httpx.Response:
    staff = await sign_in(client, "branch-hoerde", staff=True)
    etag = (await client.get(f"/api/v1/branches/{branch.id}")).headers["etag"]
    return await client.patch(
        f"/api/v1/branches/{branch.id}", json=body, headers={**staff.headers, "If-Match": etag}
    )


@pytest.mark.parametrize("value", ["yes", "true", 0, 1, 1.0, "null"])
async def test_a_boolean_field_takes_only_true_or_false(
    client: httpx.AsyncClient, hoerde: Branch, value: object
) -> None:
    response = await edit_branch(client, hoerde, {"wheelchair_accessible": value})

    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"pointer": "#/wheelchair_accessible", "detail": "Erwartet wird true oder false."}
    ]


async def test_a_real_boolean_is_taken(client: httpx.AsyncClient, hoerde: Branch) -> None:
    response = await edit_branch(client, hoerde, {"wheelchair_accessible": True})

    assert response.status_code == 200, response.text
    assert response.json()["wheelchair_accessible"] is True


@pytest.mark.parametrize("limit", ["1.0", "+5", "1e1", " 5", "٣", "true"])
async def test_a_page_size_takes_only_digits(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/api/v1/branches", params={"limit": limit})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"pointer": "#/query/limit", "detail": "Erwartet wird eine ganze Zahl."}
    ]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("de", "Erwartet wird eine gültige E-Mail-Adresse."),
        ("en", "A valid e-mail address is expected."),
    ],
)
async def test_a_bad_e_mail_address_is_explained_in_the_callers_language_only(
    client: httpx.AsyncClient, session: AsyncSession, language: str, expected: str
) -> None:
    department: Department = await create_department(session, code="33")
    await session.commit()
    supervisor = await sign_in(client, "supervisor-buergerdienste", staff=True)
    etag = (await client.get(f"/api/v1/departments/{department.id}")).headers["etag"]

    response = await client.patch(
        f"/api/v1/departments/{department.id}",
        json={"email": "amt33@stadt"},
        headers={**supervisor.headers, "If-Match": etag, "Accept-Language": language},
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [{"pointer": "#/email", "detail": expected}]
    assert "domain" not in response.text.lower()
