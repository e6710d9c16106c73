"""Staff roles from Keycloak groups, and edits that check role and scope on the resource."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import AuditEntry
from app.core.db import Database
from app.core.principal import Principal, PrincipalType, Role, RoleGrant, ScopeType
from app.identity.models import StaffUser
from app.identity.staff import grants_from_groups
from app.organisation.models import Branch, Department
from tests.fixtures.auth import authorize, sign_in
from tests.fixtures.factories import create_branch, create_department

CLERK_51 = "clerk-jugendamt"
SUPERVISOR_33 = "supervisor-buergerdienste"
BRANCH_HOERDE = "branch-hoerde"
ADMIN = "admin"
PROBLEM = "https://rathaus.example/problems/"


@dataclass
class Places:
    youth_office: Department
    citizen_services: Department
    hoerde: Branch
    mitte: Branch


async def create_places(session: AsyncSession) -> Places:
    """The departments and branches the dev-login personas' groups name, plus one more."""
    return Places(
        youth_office=await create_department(session, code="51"),
        citizen_services=await create_department(session, code="33"),
        hoerde=await create_branch(session, code="hoerde"),
        mitte=await create_branch(session, code="mitte"),
    )


@pytest.fixture
async def places(session: AsyncSession) -> Places:
    created = await create_places(session)
    await session.commit()
    return created


async def bearer(client: httpx.AsyncClient, persona: str, *, staff: bool = True) -> dict[str, str]:
    return (await sign_in(client, persona, staff=staff)).headers


def department_path(department: Department) -> str:
    return f"/api/v1/departments/{department.id}"


def branch_path(branch: Branch) -> str:
    return f"/api/v1/branches/{branch.id}"


async def etag_of(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


async def edit(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    body: dict[str, object],
    if_match: str | None = None,
) -> httpx.Response:
    if if_match is not None:
        headers = {**headers, "If-Match": if_match}
    return await client.patch(path, json=body, headers=headers)


async def edit_current(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], body: dict[str, object]
) -> httpx.Response:
    return await edit(client, path, headers, body, await etag_of(client, path))


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM + slug


NEW_NAME = {"name": {"de": "Bürgerdienste Mitte", "en": "Citizen Services Centre"}}
NEW_PHONE = {"phone": "+49 231 50-12345"}


async def test_staff_me_lists_the_roles_the_groups_grant(
    client: httpx.AsyncClient, places: Places
) -> None:
    expected = {
        CLERK_51: [("clerk", "department", str(places.youth_office.id))],
        SUPERVISOR_33: [
            ("clerk", "department", str(places.citizen_services.id)),
            ("supervisor", "department", str(places.citizen_services.id)),
        ],
        BRANCH_HOERDE: [("branch_staff", "branch", str(places.hoerde.id))],
        ADMIN: [("admin", "global", None)],
    }
    for persona, roles in expected.items():
        response = await client.get("/api/v1/staff/me", headers=await bearer(client, persona))

        assert response.status_code == 200, response.text
        granted = [(r["role"], r["scope_type"], r["scope_id"]) for r in response.json()["roles"]]
        assert sorted(granted) == roles, persona


async def test_clerk_of_51_editing_department_33_gets_403_missing_role(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, CLERK_51)

    response = await edit_current(
        client, department_path(places.citizen_services), headers, NEW_NAME
    )

    assert_problem(response, 403, "missing-role")


async def test_clerk_editing_their_own_department_gets_403_as_only_supervisors_may(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, CLERK_51)

    response = await edit_current(client, department_path(places.youth_office), headers, NEW_NAME)

    assert_problem(response, 403, "missing-role")


async def test_supervisor_of_33_editing_department_51_gets_403_missing_role(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, SUPERVISOR_33)

    response = await edit_current(client, department_path(places.youth_office), headers, NEW_NAME)

    assert_problem(response, 403, "missing-role")
    unchanged = (await client.get(department_path(places.youth_office))).json()
    assert unchanged["name"]["de"] == places.youth_office.name_de


async def test_supervisor_of_33_edits_33_and_gets_a_new_etag_and_an_audit_entry(
    client: httpx.AsyncClient, session: AsyncSession, places: Places
) -> None:
    headers = await bearer(client, SUPERVISOR_33)
    staff_id = (await client.get("/api/v1/staff/me", headers=headers)).json()["id"]
    path = department_path(places.citizen_services)

    response = await edit(
        client, path, headers, {**NEW_NAME, "email": "mitte@stadt.example"}, '"v1"'
    )

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"v2"'
    assert response.json()["name"] == NEW_NAME["name"]
    assert response.json()["email"] == "mitte@stadt.example"
    assert await etag_of(client, path) == '"v2"'
    (entry,) = await session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "department.updated",
            AuditEntry.object_id == str(places.citizen_services.id),
        )
    )
    assert (entry.actor_type, entry.actor_id) == ("staff", staff_id)
    assert entry.summary == {"fields": "email,name"}


async def test_department_edit_without_if_match_gets_428(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, SUPERVISOR_33)

    response = await edit(client, department_path(places.citizen_services), headers, NEW_NAME)

    assert_problem(response, 428, "precondition-required")


async def test_department_edit_with_a_stale_etag_gets_412_and_keeps_the_first_edit(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, SUPERVISOR_33)
    path = department_path(places.citizen_services)
    first_read = await etag_of(client, path)
    first = await edit(client, path, headers, NEW_NAME, first_read)
    assert first.status_code == 200, first.text

    second = await edit(
        client, path, headers, {"name": {"de": "Überschrieben", "en": "Overwritten"}}, first_read
    )

    assert_problem(second, 412, "precondition-failed")
    assert (await client.get(path)).json()["name"] == NEW_NAME["name"]


async def test_twenty_concurrent_edits_with_the_same_etag_succeed_exactly_once(
    committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        places = await create_places(session)
    headers = await bearer(committed_client, SUPERVISOR_33)
    path = department_path(places.citizen_services)

    responses = await asyncio.gather(
        *(
            edit(committed_client, path, headers, {"email": f"team{n}@stadt.example"}, '"v1"')
            for n in range(20)
        )
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 19, [r.text for r in responses if r.status_code != 412]
    winner = next(r for r in responses if r.status_code == 200)
    current = await committed_client.get(path)
    assert current.headers["etag"] == '"v2"'
    assert current.json()["email"] == winner.json()["email"]
    async with committed_db.transaction() as session:
        entries = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "department.updated")
        )
        assert len(list(entries)) == 1


async def test_branch_staff_of_hoerde_edits_hoerde(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, BRANCH_HOERDE)

    response = await edit_current(client, branch_path(places.hoerde), headers, NEW_PHONE)

    assert response.status_code == 200, response.text
    assert response.json()["phone"] == NEW_PHONE["phone"]
    assert response.headers["etag"] == '"v2"'


async def test_branch_staff_sending_null_keeps_accessibility_and_clears_the_phone(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, BRANCH_HOERDE)
    path = branch_path(places.hoerde)
    assert (await edit_current(client, path, headers, NEW_PHONE)).status_code == 200

    response = await edit_current(
        client, path, headers, {"wheelchair_accessible": None, "phone": None}
    )

    assert response.status_code == 200, response.text
    assert response.json()["wheelchair_accessible"] is True
    assert response.json()["phone"] is None


@pytest.mark.parametrize("target", ["other-branch", "department"])
async def test_branch_staff_of_hoerde_editing_anything_else_gets_403(
    client: httpx.AsyncClient, places: Places, target: str
) -> None:
    headers = await bearer(client, BRANCH_HOERDE)
    path, body = (
        (branch_path(places.mitte), NEW_PHONE)
        if target == "other-branch"
        else (department_path(places.citizen_services), NEW_NAME)
    )

    response = await edit_current(client, path, headers, body)

    assert_problem(response, 403, "missing-role")


@pytest.mark.parametrize("persona", [CLERK_51, SUPERVISOR_33])
async def test_department_staff_editing_a_branch_gets_403(
    client: httpx.AsyncClient, places: Places, persona: str
) -> None:
    headers = await bearer(client, persona)

    response = await edit_current(client, branch_path(places.hoerde), headers, NEW_PHONE)

    assert_problem(response, 403, "missing-role")


async def test_admin_edits_every_department_and_branch(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, ADMIN)

    for path, body in [
        (department_path(places.youth_office), NEW_NAME),
        (department_path(places.citizen_services), NEW_NAME),
        (branch_path(places.hoerde), NEW_PHONE),
        (branch_path(places.mitte), NEW_PHONE),
    ]:
        response = await edit_current(client, path, headers, body)
        assert response.status_code == 200, (path, response.text)


async def test_admin_edit_without_if_match_still_gets_428(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, ADMIN)

    response = await edit(client, branch_path(places.hoerde), headers, NEW_PHONE)

    assert_problem(response, 428, "precondition-required")


async def test_citizen_token_on_staff_endpoints_gets_403(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, "erika", staff=False)

    responses = [
        await client.get("/api/v1/staff/me", headers=headers),
        await edit_current(client, department_path(places.citizen_services), headers, NEW_NAME),
        await edit_current(client, branch_path(places.hoerde), headers, NEW_PHONE),
        await client.get("/api/v1/admin/clients", headers=headers),
    ]

    for response in responses:
        assert_problem(response, 403, "wrong-principal")


async def test_edit_without_a_token_gets_401(client: httpx.AsyncClient, places: Places) -> None:
    response = await edit_current(client, department_path(places.citizen_services), {}, NEW_NAME)

    assert_problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_deactivated_staff_member_gets_401_with_the_token_they_hold(
    client: httpx.AsyncClient, session: AsyncSession, places: Places
) -> None:
    headers = await bearer(client, SUPERVISOR_33)
    staff_id = uuid.UUID((await client.get("/api/v1/staff/me", headers=headers)).json()["id"])

    await session.execute(
        update(StaffUser).where(StaffUser.id == staff_id).values(status="disabled")
    )
    await session.commit()

    me = await client.get("/api/v1/staff/me", headers=headers)
    assert_problem(me, 401, "invalid-token")
    assert me.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    edited = await edit_current(client, department_path(places.citizen_services), headers, NEW_NAME)
    assert_problem(edited, 401, "invalid-token")


async def test_deactivated_staff_member_cannot_sign_in_again(
    client: httpx.AsyncClient, session: AsyncSession, places: Places
) -> None:
    await bearer(client, SUPERVISOR_33)
    await session.execute(update(StaffUser).values(status="disabled"))
    await session.commit()

    result = await authorize(client, SUPERVISOR_33, staff=True)

    assert result["error_code"] == "not_permitted"
    assert "code" not in result


async def test_staff_login_whose_groups_grant_nothing_returns_an_error_and_no_code(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await create_department(session, code="33")
    await session.commit()

    result = await authorize(client, CLERK_51, staff=True)

    assert result == {
        "error": "access_denied",
        "error_code": "missing_attribute",
        "state": "frontend-state-1",
    }
    assert await session.scalar(select(StaffUser)) is None


@pytest.mark.parametrize(
    "group",
    [
        "/rathaus/admin/department/51",
        "/rathaus/admin/branch/hoerde",
        "/rathaus/clerk/branch/hoerde",
        "/rathaus/branch_staff/department/51",
        "/rathaus/clerk",
        "/rathaus/supervisor",
        "/rathaus/mayor",
        "/rathaus/clerk/department/99",
        "/rathaus/admin\n",
        "/rathaus/admin/",
        "/other/admin",
    ],
)
async def test_group_naming_a_role_with_the_wrong_scope_or_an_unknown_place_grants_nothing(
    session: AsyncSession, group: str
) -> None:
    await create_places(session)

    assert await grants_from_groups(session, [group]) == []


async def test_department_admin_group_does_not_become_a_global_admin(
    session: AsyncSession,
) -> None:
    places = await create_places(session)

    grants = await grants_from_groups(
        session, ["/rathaus/admin/department/51", "/rathaus/clerk/department/51"]
    )

    assert grants == [RoleGrant(Role.clerk, ScopeType.department, places.youth_office.id)]


def test_scoped_admin_grant_allows_nothing_beyond_its_scope() -> None:
    department_id = uuid.uuid4()
    principal = Principal(
        PrincipalType.staff,
        uuid.uuid4(),
        grants=(RoleGrant(Role.admin, ScopeType.department, department_id),),
    )

    assert not principal.has_role(Role.admin)
    assert not principal.has_role(Role.supervisor, department_id=uuid.uuid4())
    assert not principal.has_role(Role.branch_staff, branch_id=uuid.uuid4())


# The longest address RFC 5321 allows: 64 characters before the @, labels of at most 63.
LONGEST_ADDRESS = "b" * 64 + "@" + "d" * 63 + "." + "d" * 63 + "." + "d" * 53 + ".example"


async def test_longest_valid_e_mail_address_is_stored_for_a_branch_and_a_department(
    client: httpx.AsyncClient, places: Places
) -> None:
    headers = await bearer(client, ADMIN)
    address = LONGEST_ADDRESS
    assert len(address) == 254

    for path in (branch_path(places.hoerde), department_path(places.youth_office)):
        response = await edit_current(client, path, headers, {"email": address})

        assert response.status_code == 200, response.text
        assert (await client.get(path)).json()["email"] == address


@pytest.mark.parametrize(
    ("name", "pointer"),
    [
        ({"de": "J" * 201, "en": "Youth Welfare Office"}, "#/name/de"),
        ({"de": "Jugendamt", "en": ""}, "#/name/en"),
        ({"de": "Jugendamt"}, "#/name/en"),
    ],
    ids=["too-long", "empty", "missing-language"],
)
async def test_department_name_that_does_not_fit_gets_422_and_changes_nothing(
    client: httpx.AsyncClient, places: Places, name: dict[str, str], pointer: str
) -> None:
    headers = await bearer(client, ADMIN)
    path = department_path(places.youth_office)

    response = await edit_current(client, path, headers, {"name": name})

    assert_problem(response, 422, "validation-failed")
    assert [e["pointer"] for e in response.json()["errors"]] == [pointer]
    after = await client.get(path)
    assert after.headers["etag"] == '"v1"'
