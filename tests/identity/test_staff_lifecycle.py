"""Staff lifecycle: short staff sessions, and administrators disabling and enabling staff."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import AuditEntry
from app.core.jobs.models import Event
from app.identity.models import AuthSession, StaffUser
from tests.fixtures.auth import sign_in
from tests.identity.test_staff import ADMIN, CLERK_51, Places, create_places

STAFF = "/api/v1/admin/staff"
PROBLEM = "https://rathaus.example/problems/"


@pytest.fixture
async def places(session: AsyncSession) -> Places:
    created = await create_places(session)
    await session.commit()
    return created


async def staff_user_id(session: AsyncSession, name: str) -> uuid.UUID:
    found = await session.scalar(select(StaffUser.id).where(StaffUser.display_name == name))
    assert found is not None
    return found


async def refresh(client: httpx.AsyncClient, token: str | None) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def test_staff_sessions_end_after_an_hour_citizens_after_eight(
    client: httpx.AsyncClient, session: AsyncSession, places: Places
) -> None:
    clerk = await sign_in(client, CLERK_51, staff=True)
    citizen = await sign_in(client, "erika")

    sessions = {
        row.principal_type: row.expires_at - row.created_at
        for row in (await session.scalars(select(AuthSession))).all()
    }

    assert clerk.refresh_token
    assert citizen.refresh_token
    assert abs(sessions["staff"] - timedelta(hours=1)) < timedelta(seconds=5)
    assert abs(sessions["citizen"] - timedelta(hours=8)) < timedelta(seconds=5)


async def test_admin_lists_staff_with_status_and_roles(
    client: httpx.AsyncClient, places: Places
) -> None:
    await sign_in(client, CLERK_51, staff=True)
    admin = await sign_in(client, ADMIN, staff=True)

    response = await client.get(STAFF, headers=admin.headers)

    assert response.status_code == 200, response.text
    users = {u["display_name"]: u for u in response.json()["items"]}
    clerk = users["Sabine Sachbearbeiterin"]
    assert (clerk["status"], clerk["active"]) == ("active", True)
    assert clerk["roles"] == [
        {"role": "clerk", "scope_type": "department", "scope_id": str(places.youth_office.id)}
    ]


async def test_disabled_staff_are_signed_out_at_once_and_cannot_sign_in_again(
    client: httpx.AsyncClient, session: AsyncSession, places: Places
) -> None:
    clerk = await sign_in(client, CLERK_51, staff=True)
    admin = await sign_in(client, ADMIN, staff=True)
    clerk_id = await staff_user_id(session, "Sabine Sachbearbeiterin")

    disabled = await client.post(f"{STAFF}/{clerk_id}/disable", headers=admin.headers)

    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["status"], disabled.json()["active"]) == ("disabled", False)
    me = await client.get("/api/v1/staff/me", headers=clerk.headers)
    assert me.status_code == 401
    assert me.json()["type"] == PROBLEM + "invalid-token"
    assert (await refresh(client, clerk.refresh_token)).status_code == 400
    reasons = await session.scalars(
        select(AuthSession.revoked_reason).where(AuthSession.principal_id == clerk_id)
    )
    assert set(reasons) == {"staff_disabled"}
    with pytest.raises(AssertionError, match="not_permitted"):
        await sign_in(client, CLERK_51, staff=True)


async def test_disabling_and_enabling_are_audited_once_each(
    client: httpx.AsyncClient, session: AsyncSession, places: Places
) -> None:
    await sign_in(client, CLERK_51, staff=True)
    admin = await sign_in(client, ADMIN, staff=True)
    clerk_id = await staff_user_id(session, "Sabine Sachbearbeiterin")
    admin_id = await staff_user_id(session, "Anna Administratorin")

    first = await client.post(f"{STAFF}/{clerk_id}/disable", headers=admin.headers)
    again = await client.post(f"{STAFF}/{clerk_id}/disable", headers=admin.headers)
    enabled = await client.post(f"{STAFF}/{clerk_id}/enable", headers=admin.headers)

    assert [first.status_code, again.status_code, enabled.status_code] == [200, 200, 200]
    assert enabled.json()["status"] == "active"
    entries = (
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == "staff_user", AuditEntry.object_id == str(clerk_id))
            .order_by(AuditEntry.id)
        )
    ).all()
    assert [(e.action, e.actor_type, e.actor_id) for e in entries] == [
        ("staff_user.disable", "staff", str(admin_id)),
        ("staff_user.enable", "staff", str(admin_id)),
    ]
    events = await session.scalar(
        select(func.count()).select_from(Event).where(Event.aggregate_id == str(clerk_id))
    )
    assert events == 2
    assert (await sign_in(client, CLERK_51, staff=True)).access_token


async def test_an_administrator_cannot_disable_themselves(
    client: httpx.AsyncClient, session: AsyncSession, places: Places
) -> None:
    admin = await sign_in(client, ADMIN, staff=True)
    admin_id = await staff_user_id(session, "Anna Administratorin")

    response = await client.post(f"{STAFF}/{admin_id}/disable", headers=admin.headers)

    assert response.status_code == 409
    assert response.json()["type"] == PROBLEM + "cannot-disable-yourself"
    assert (await client.get("/api/v1/staff/me", headers=admin.headers)).status_code == 200


@pytest.mark.parametrize("persona", [CLERK_51, "erika"])
async def test_only_administrators_manage_staff(
    client: httpx.AsyncClient, session: AsyncSession, places: Places, persona: str
) -> None:
    await sign_in(client, ADMIN, staff=True)
    admin_id = await staff_user_id(session, "Anna Administratorin")
    caller = await sign_in(client, persona, staff=persona != "erika")

    listed = await client.get(STAFF, headers=caller.headers)
    disabled = await client.post(f"{STAFF}/{admin_id}/disable", headers=caller.headers)

    assert listed.status_code == disabled.status_code == 403
    assert (await session.scalar(select(StaffUser.status).where(StaffUser.id == admin_id))) == (
        "active"
    )


async def test_an_unknown_staff_user_is_404(client: httpx.AsyncClient, places: Places) -> None:
    admin = await sign_in(client, ADMIN, staff=True)

    for response in (
        await client.get(f"{STAFF}/{uuid.uuid4()}", headers=admin.headers),
        await client.post(f"{STAFF}/{uuid.uuid4()}/disable", headers=admin.headers),
        await client.post(f"{STAFF}/{uuid.uuid4()}/enable", headers=admin.headers),
    ):
        assert response.status_code == 404
        assert response.json()["type"] == PROBLEM + "staff-user-not-found"
