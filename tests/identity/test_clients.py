"""Integrator clients: administrators manage them, clients get tokens, every call is audited."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import AuditEntry
from app.identity.clients import client_secret_matches
from app.identity.models import ApiClient
from app.models import Base
from tests.fixtures.auth import sign_in
from tests.fixtures.factories import create_branch, create_department

CLIENTS = "/api/v1/admin/clients"
TOKEN = "/api/v1/auth/token"
CLIENT_ME = "/api/v1/clients/me"
PROBLEM = "https://rathaus.example/problems/"
SCOPES = ["applications:read", "departments:read"]


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["type"] == PROBLEM + slug
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> dict[str, str]:
    return (await sign_in(client, "admin", staff=True)).headers


@pytest.fixture
async def integrator(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, object]:
    """A client created by the admin, as the create response shows it (with the secret)."""
    response = await client.post(
        CLIENTS, json={"name": "Fachverfahren Jugendamt", "scopes": SCOPES}, headers=admin
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def client_token(
    client: httpx.AsyncClient, client_id: str, secret: str, scope: str | None = None
) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope is not None:
        form["scope"] = scope
    return await client.post(TOKEN, data=form)


async def access_token(client: httpx.AsyncClient, integrator: dict[str, object]) -> str:
    response = await client_token(
        client, str(integrator["client_id"]), str(integrator["client_secret"])
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def client_calls(session: AsyncSession, integrator: dict[str, object]) -> list[AuditEntry]:
    entries = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "client.call", AuditEntry.object_id == integrator["id"])
        .order_by(AuditEntry.id)
    )
    return list(entries)


async def test_location_of_a_new_client_shows_it_without_the_secret(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post(CLIENTS, json={"name": "E-Akte", "scopes": SCOPES}, headers=admin)

    shown = await client.get(created.headers["location"], headers=admin)

    assert shown.status_code == 200
    assert shown.json()["client_id"] == created.json()["client_id"]
    assert "client_secret" not in shown.json()


async def test_admin_creates_a_client_and_sees_its_secret_once(
    client: httpx.AsyncClient, admin: dict[str, str], integrator: dict[str, object]
) -> None:
    assert str(integrator["client_id"]).startswith("cl_")
    assert integrator["scopes"] == SCOPES
    assert integrator["active"] is True
    assert integrator["status"] == "active"
    assert len(str(integrator["client_secret"])) >= 32

    listed = await client.get(CLIENTS, headers=admin)

    assert listed.status_code == 200
    assert listed.json()["next_cursor"] is None
    (shown,) = listed.json()["items"]
    assert shown["client_id"] == integrator["client_id"]
    assert "client_secret" not in shown
    assert str(integrator["client_secret"]) not in listed.text


async def test_create_response_is_not_cached_and_names_the_new_client(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(CLIENTS, json={"name": "Kasse", "scopes": SCOPES}, headers=admin)

    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["location"] == f"{CLIENTS}/{response.json()['id']}"


async def test_client_secret_is_stored_only_as_a_scrypt_hash(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: dict[str, str],
    integrator: dict[str, object],
) -> None:
    secret = str(integrator["client_secret"])
    await access_token(client, integrator)
    rotated = await client.post(f"{CLIENTS}/{integrator['id']}/secret", headers=admin)
    new_secret = rotated.json()["client_secret"]

    stored = await session.get(ApiClient, uuid.UUID(rotated.json()["id"]))
    assert stored is not None
    assert stored.secret_hash.startswith("scrypt$")
    assert await client_secret_matches(new_secret, stored.secret_hash)
    for table in Base.metadata.sorted_tables:
        for row in (await session.execute(select(table))).all():
            assert secret not in repr(row), table.name
            assert new_secret not in repr(row), table.name
    summaries = await session.scalars(select(AuditEntry.summary))
    assert all(secret not in repr(s) and new_secret not in repr(s) for s in summaries)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", CLIENTS),
        ("POST", CLIENTS),
        ("POST", f"{CLIENTS}/00000000-0000-4000-8000-000000000000/secret"),
        ("DELETE", f"{CLIENTS}/00000000-0000-4000-8000-000000000000"),
    ],
)
@pytest.mark.parametrize(
    ("who", "status", "slug"),
    [
        ("supervisor-buergerdienste", 403, "missing-role"),
        ("erika", 403, "wrong-principal"),
        (None, 401, "invalid-token"),
    ],
)
async def test_client_administration_is_refused_to_everyone_but_admins(
    client: httpx.AsyncClient,
    session: AsyncSession,
    method: str,
    path: str,
    who: str | None,
    status: int,
    slug: str,
) -> None:
    await create_department(session, code="33")
    await session.commit()
    headers = {}
    if who is not None:
        headers = (await sign_in(client, who, staff=who != "erika")).headers
    body = {"name": "Unbefugt", "scopes": SCOPES} if path == CLIENTS else None

    response = await client.request(method, path, json=body, headers=headers)

    assert_problem(response, status, slug)
    assert await session.scalar(select(ApiClient)) is None


async def test_client_token_on_client_administration_gets_403(
    client: httpx.AsyncClient, integrator: dict[str, object]
) -> None:
    token = await access_token(client, integrator)

    response = await client.get(CLIENTS, headers=bearer(token))

    assert_problem(response, 403, "wrong-principal")


async def test_client_gets_a_token_with_id_and_secret_in_the_form(
    client: httpx.AsyncClient, integrator: dict[str, object]
) -> None:
    response = await client_token(
        client, str(integrator["client_id"]), str(integrator["client_secret"])
    )

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == " ".join(SCOPES)
    assert body["refresh_token"] is None
    assert body["expires_in"] > 0


async def test_client_gets_a_token_with_http_basic(
    client: httpx.AsyncClient, integrator: dict[str, object]
) -> None:
    response = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "scope": "departments:read"},
        headers=basic(str(integrator["client_id"]), str(integrator["client_secret"])),
    )

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "departments:read"
    me = await client.get(CLIENT_ME, headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200


async def test_http_basic_credentials_are_form_decoded_as_rfc_6749_requires(
    client: httpx.AsyncClient, integrator: dict[str, object]
) -> None:
    encoded_id = "".join(f"%{ord(c):02X}" for c in str(integrator["client_id"]))

    response = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers=basic(encoded_id, str(integrator["client_secret"])),
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("via", ["form", "basic"])
@pytest.mark.parametrize("wrong", ["secret", "client-id", "both-missing"])
async def test_wrong_client_credentials_get_401_invalid_client(
    client: httpx.AsyncClient, integrator: dict[str, object], via: str, wrong: str
) -> None:
    client_id, secret = str(integrator["client_id"]), str(integrator["client_secret"])
    if wrong == "secret":
        secret = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    elif wrong == "client-id":
        client_id = "cl_" + "0" * 24
    else:
        client_id = secret = ""
    form = {"grant_type": "client_credentials"}
    headers: dict[str, str] = {}
    if via == "form":
        form |= {"client_id": client_id, "client_secret": secret}
    elif client_id:
        headers = basic(client_id, secret)

    response = await client.post(TOKEN, data=form, headers=headers)

    body = assert_problem(response, 401, "invalid-client")
    assert body["error"] == "invalid_client"
    assert "access_token" not in body


@pytest.mark.parametrize("scope", ["payments:reconcile", "departments:read payments:reconcile"])
async def test_scope_not_granted_to_the_client_gets_400_invalid_scope(
    client: httpx.AsyncClient, integrator: dict[str, object], scope: str
) -> None:
    response = await client_token(
        client, str(integrator["client_id"]), str(integrator["client_secret"]), scope
    )

    body = assert_problem(response, 400, "invalid-scope")
    assert body["error"] == "invalid_scope"


@pytest.mark.parametrize("scope", ["", "   "], ids=["empty", "blank"])
async def test_client_asking_for_no_scope_in_particular_gets_all_its_scopes(
    client: httpx.AsyncClient, integrator: dict[str, object], scope: str
) -> None:
    response = await client_token(
        client, str(integrator["client_id"]), str(integrator["client_secret"]), scope
    )

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == " ".join(SCOPES)


async def test_admin_creating_a_client_with_an_unknown_scope_gets_422_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        CLIENTS, json={"name": "Allmächtig", "scopes": ["admin"]}, headers=admin
    )

    body = assert_problem(response, 422, "validation-failed")
    assert [e["pointer"] for e in body["errors"]] == ["#/scopes/0"]
    assert "departments:read" in body["errors"][0]["detail"]


async def test_a_ticket_kiosk_is_created_for_one_existing_branch_only(
    client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
) -> None:
    branch = await create_branch(session)
    await session.commit()
    kiosk = {"name": "Ticketautomat Hörde", "scopes": ["appointments:tickets"]}

    unbound = await client.post(CLIENTS, json=kiosk, headers=admin)
    unknown = await client.post(
        CLIENTS, json={**kiosk, "branch_id": str(uuid.uuid4())}, headers=admin
    )
    bound = await client.post(CLIENTS, json={**kiosk, "branch_id": str(branch.id)}, headers=admin)

    body = assert_problem(unbound, 422, "client-branch-required")
    assert [e["pointer"] for e in body["errors"]] == ["#/branch_id"]
    assert "branch_id" in str(body["detail"])
    assert_problem(unknown, 404, "branch-not-found")
    assert bound.status_code == 201, bound.text
    assert bound.json()["branch_id"] == str(branch.id)
    shown = await client.get(bound.headers["Location"], headers=admin)
    assert shown.json()["branch_id"] == str(branch.id)
    names = (
        await session.scalars(select(ApiClient.name).execution_options(populate_existing=True))
    ).all()
    assert names == ["Ticketautomat Hörde"]  # the refused ones were not made


async def test_client_sees_itself_and_its_scopes(
    client: httpx.AsyncClient, integrator: dict[str, object]
) -> None:
    token = await access_token(client, integrator)

    response = await client.get(CLIENT_ME, headers=bearer(token))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["client_id"] == integrator["client_id"]
    assert body["name"] == "Fachverfahren Jugendamt"
    assert body["scopes"] == SCOPES
    assert "client_secret" not in body


async def test_each_client_call_is_audited_with_method_and_route(
    client: httpx.AsyncClient, session: AsyncSession, integrator: dict[str, object]
) -> None:
    token = await access_token(client, integrator)

    for _ in range(2):
        assert (await client.get(CLIENT_ME, headers=bearer(token))).status_code == 200

    calls = await client_calls(session, integrator)
    assert len(calls) == 2
    assert {(c.actor_type, c.actor_id) for c in calls} == {("client", integrator["client_id"])}
    assert {c.summary["route"] for c in calls} == {CLIENT_ME}
    assert {c.summary["method"] for c in calls} == {"GET"}


@pytest.mark.parametrize(
    ("method", "path", "slug"),
    [
        ("GET", "/api/v1/me", "wrong-principal"),
        ("GET", "/api/v1/staff/me", "wrong-principal"),
        ("GET", CLIENTS, "wrong-principal"),
    ],
)
async def test_refused_client_call_is_audited_too(
    client: httpx.AsyncClient,
    session: AsyncSession,
    integrator: dict[str, object],
    method: str,
    path: str,
    slug: str,
) -> None:
    token = await access_token(client, integrator)

    response = await client.request(method, path, headers=bearer(token))

    assert_problem(response, 403, slug)
    (call,) = await client_calls(session, integrator)
    assert call.summary == {"method": method, "route": path}


async def test_revoked_client_token_gets_401_at_once(
    client: httpx.AsyncClient, admin: dict[str, str], integrator: dict[str, object]
) -> None:
    token = await access_token(client, integrator)
    assert (await client.get(CLIENT_ME, headers=bearer(token))).status_code == 200

    revoked = await client.delete(f"{CLIENTS}/{integrator['id']}", headers=admin)

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["active"] is False
    assert revoked.json()["revoked_at"] is not None
    refused = await client.get(CLIENT_ME, headers=bearer(token))
    assert_problem(refused, 401, "invalid-token")
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    again = await client_token(
        client, str(integrator["client_id"]), str(integrator["client_secret"])
    )
    assert_problem(again, 401, "invalid-client")


async def test_revoking_twice_keeps_the_first_revocation_and_audits_it_once(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: dict[str, str],
    integrator: dict[str, object],
) -> None:
    first = await client.delete(f"{CLIENTS}/{integrator['id']}", headers=admin)

    second = await client.delete(f"{CLIENTS}/{integrator['id']}", headers=admin)

    assert second.status_code == 200
    assert second.json()["revoked_at"] == first.json()["revoked_at"]
    revocations = await session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "api_client.revoke", AuditEntry.object_id == integrator["id"]
        )
    )
    assert len(list(revocations)) == 1


async def test_rotated_secret_replaces_the_old_one(
    client: httpx.AsyncClient, admin: dict[str, str], integrator: dict[str, object]
) -> None:
    client_id, old_secret = str(integrator["client_id"]), str(integrator["client_secret"])

    rotated = await client.post(f"{CLIENTS}/{integrator['id']}/secret", headers=admin)

    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert new_secret != old_secret
    assert rotated.json()["client_id"] == client_id
    assert_problem(await client_token(client, client_id, old_secret), 401, "invalid-client")
    assert (await client_token(client, client_id, new_secret)).status_code == 200


async def test_rotating_the_secret_of_a_revoked_client_gets_409_naming_its_status(
    client: httpx.AsyncClient, admin: dict[str, str], integrator: dict[str, object]
) -> None:
    await client.delete(f"{CLIENTS}/{integrator['id']}", headers=admin)

    response = await client.post(f"{CLIENTS}/{integrator['id']}/secret", headers=admin)

    body = assert_problem(response, 409, "invalid-state-transition")
    assert body["current_status"] == "revoked"
    assert "gesperrt" in str(body["detail"])
    again = await client_token(
        client, str(integrator["client_id"]), str(integrator["client_secret"])
    )
    assert_problem(again, 401, "invalid-client")


@pytest.mark.parametrize(
    ("method", "suffix"), [("DELETE", ""), ("POST", "/secret")], ids=["revoke", "rotate"]
)
async def test_unknown_client_id_gets_404_problem(
    client: httpx.AsyncClient, admin: dict[str, str], method: str, suffix: str
) -> None:
    path = f"{CLIENTS}/00000000-0000-4000-8000-000000000000{suffix}"

    response = await client.request(method, path, headers=admin)

    assert_problem(response, 404, "client-not-found")
