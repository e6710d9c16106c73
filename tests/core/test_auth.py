"""Who may call comes first: 401 and 403 before anything the caller sent is looked at."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import SYSTEM, current_actor
from tests.fixtures.auth import sign_in
from tests.fixtures.factories import create_branch, create_department

PROBLEM = "https://rathaus.example/problems/"
MALFORMED_BODIES = [
    pytest.param(
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, id="json"
    ),
    pytest.param({"content": b"phone=1", "headers": {"Content-Type": "text/plain"}}, id="type"),
    pytest.param({"json": {"phone": 12, "unknown": True}}, id="fields"),
]


def problem_type(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return str(response.json()["type"]).removeprefix(PROBLEM)


@pytest.mark.parametrize("body", MALFORMED_BODIES)
async def test_without_a_token_a_malformed_request_gets_401(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.request("PATCH", "/api/v1/branches/not-a-uuid", **body)  # type: ignore[arg-type]

    assert response.status_code == 401
    assert problem_type(response) == "invalid-token"
    assert response.headers["www-authenticate"] == 'Bearer realm="rathaus"'


async def test_a_forged_token_with_a_malformed_query_gets_401(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/admin/clients?limit=many&cursor=%00",
        headers={"Authorization": "Bearer not.a.token"},
    )

    assert response.status_code == 401
    assert problem_type(response) == "invalid-token"


@pytest.mark.parametrize("body", MALFORMED_BODIES)
async def test_a_citizen_sending_a_malformed_staff_edit_gets_403(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    citizen = await sign_in(client, "erika")

    response = await client.request(
        "PATCH",
        f"/api/v1/branches/{uuid.uuid4()}",
        headers={**citizen.headers, **body.pop("headers", {})},  # type: ignore[dict-item]
        **body,  # type: ignore[arg-type]
    )

    assert response.status_code == 403
    assert problem_type(response) == "wrong-principal"


async def test_staff_without_the_admin_role_gets_403_before_the_body_is_read(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await create_department(session, code="51")
    await session.commit()
    clerk = await sign_in(client, "clerk-jugendamt", staff=True)

    response = await client.post(
        "/api/v1/admin/clients",
        content=b"{broken",
        headers={**clerk.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 403
    assert problem_type(response) == "missing-role"


async def test_after_a_request_the_callers_identity_does_not_linger(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    branch = await create_branch(session, code="hoerde")
    await session.commit()
    staff = await sign_in(client, "branch-hoerde", staff=True)
    etag = (await client.get(f"/api/v1/branches/{branch.id}")).headers["etag"]

    edited = await client.patch(
        f"/api/v1/branches/{branch.id}",
        json={"phone": "0231 123"},
        headers={**staff.headers, "If-Match": etag},
    )

    assert edited.status_code == 200, edited.text
    assert current_actor.get() == SYSTEM


def test_routes_document_the_problems_of_their_access(app: FastAPI) -> None:
    paths = app.openapi()["paths"]

    admin_list = paths["/api/v1/admin/clients"]["get"]
    assert {"401", "403"} <= set(admin_list["responses"])
    assert "Missing permission" in admin_list["responses"]["403"]["description"]
    assert admin_list["security"] == [{"bearer": []}]
    public_list = paths["/api/v1/branches"]["get"]
    assert "401" not in public_list["responses"]
