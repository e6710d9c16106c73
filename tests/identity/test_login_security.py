"""Attacks on citizen sign-in, tokens and sessions, and what the attacker gets to see."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from jose import jws
from sqlalchemy import func, select, update

from app.core.audit import AuditEntry
from app.core.db import Database, create_engine, utcnow
from app.core.ratelimit import RateLimitCounter
from app.identity.jwt import SigningKey, generate_private_pem
from app.identity.models import (
    AuthorizationCode,
    AuthSession,
    CitizenAccount,
    CitizenAttribute,
    LoginAttempt,
    StaffRoleGrant,
)
from app.main import create_app
from tests.conftest import client_for, make_settings
from tests.fixtures.auth import RETURN_TO, Pkce, Tokens, authorize, query_of, sign_in
from tests.fixtures.factories import create_department

LOGIN = "/api/v1/auth/mock-eid/login"
CALLBACK = "/api/v1/auth/mock-eid/callback"
TOKEN = "/api/v1/auth/token"
GUESS = {"grant_type": "authorization_code", "code": "guessed", "code_verifier": "v" * 43}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["type"] == f"https://rathaus.example/problems/{slug}"
    return body


def login_params(return_to: str = RETURN_TO, challenge: str | None = None) -> dict[str, str]:
    return {
        "return_to": return_to,
        "code_challenge": challenge or Pkce.new().challenge,
        "state": "frontend-state-1",
    }


async def begin_login(client: httpx.AsyncClient) -> str:
    """Start a sign-in; returns the state the mock eID page is opened with."""
    start = await client.get(LOGIN, params=login_params())
    assert start.status_code == 303, start.text
    return query_of(start.headers["location"])["state"]


async def code_from_page(client: httpx.AsyncClient, state: str, persona: str) -> str:
    """The code the mock eID page hands to our callback when `persona` is chosen."""
    chosen = await client.post("/mock-eid/authorize", data={"persona": persona, "state": state})
    assert chosen.status_code == 303
    return query_of(chosen.headers["location"])["code"]


async def call_back(client: httpx.AsyncClient, state: str, code: str) -> httpx.Response:
    return await client.get(CALLBACK, params={"state": state, "code": code})


async def exchange(client: httpx.AsyncClient, code: str, verifier: str | None) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code}
    if verifier is not None:
        data["code_verifier"] = verifier
    return await client.post(TOKEN, data=data)


async def refresh(client: httpx.AsyncClient, refresh_token: str | None) -> httpx.Response:
    return await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh_token or ""}
    )


async def count(database: Database, model: type[object]) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def profile_id(client: httpx.AsyncClient, tokens: Tokens) -> str:
    response = await client.get("/api/v1/me", headers=tokens.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


# Open redirects through return_to


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/callback",
        "//evil.example/callback",
        "http://localhost:3000.evil.example/callback",
        "http://localhost:3000@evil.example/callback",
        "http://user:pass@localhost:3000/callback",
        "http:\\\\evil.example\\callback",
        "http://localhost:3000\\@evil.example/callback",
        "https://localhost:3000/callback",
        "http://localhost:3001/callback",
        "ftp://localhost:3000/callback",
        "javascript:alert(document.cookie)//localhost:3000/",
        "/callback",
        "http://localhost:3000/callback#fragment",
    ],
)
async def test_return_to_off_the_allow_list_gets_400_and_starts_no_login(
    client: httpx.AsyncClient, db: Database, return_to: str
) -> None:
    response = await client.get(LOGIN, params=login_params(return_to))

    assert_problem(response, 400, "return-to-not-allowed")
    assert "location" not in response.headers
    assert await count(db, LoginAttempt) == 0


@pytest.mark.parametrize(
    "return_to",
    ["http://[::1/callback", "http://localhost\uff1a3000/callback", "http://a]b/callback"],
    ids=["unclosed-ipv6-bracket", "full-width-colon", "stray-closing-bracket"],
)
@pytest.mark.parametrize("login", [LOGIN, "/api/v1/auth/staff/dev-login/login"])
async def test_return_to_that_is_no_url_gets_400_not_500(
    client: httpx.AsyncClient, db: Database, return_to: str, login: str
) -> None:
    response = await client.get(login, params=login_params(return_to))

    assert_problem(response, 400, "return-to-not-allowed")
    assert await count(db, LoginAttempt) == 0


@pytest.fixture
async def app_path_client(database_url: str, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose allow-list names a path: the frontend shares its host with others."""
    settings = make_settings(
        database_url, auth_return_to_allowlist=["https://stadt.example/buergerapp/"]
    )
    async with client_for(create_app(settings, database=db)) as client:
        yield client


@pytest.mark.parametrize(
    "return_to",
    [
        "https://stadt.example/forum/callback",
        "https://stadt.example/buergerapp-evil/callback",
        "https://stadt.example/buergerapp/../forum/callback",
        "https://stadt.example/buergerapp/%2e%2e/forum/callback",
        "https://stadt.example/buergerapp/.%2E/forum/callback",
        "https://stadt.example/",
    ],
)
async def test_return_to_outside_the_allowed_path_gets_400(
    app_path_client: httpx.AsyncClient, db: Database, return_to: str
) -> None:
    response = await app_path_client.get(LOGIN, params=login_params(return_to))

    assert_problem(response, 400, "return-to-not-allowed")
    assert await count(db, LoginAttempt) == 0


async def test_return_to_under_the_allowed_path_starts_the_login(
    app_path_client: httpx.AsyncClient,
) -> None:
    response = await app_path_client.get(
        LOGIN, params=login_params("https://stadt.example/buergerapp/signed-in?tab=2")
    )

    assert response.status_code == 303, response.text


@pytest.mark.parametrize(
    "challenge", ["too-short", "x" * 44, "x" * 128, "+" * 43], ids=["short", "44", "128", "chars"]
)
async def test_code_challenge_that_is_no_s256_value_gets_422(
    client: httpx.AsyncClient, db: Database, challenge: str
) -> None:
    response = await client.get(LOGIN, params=login_params(challenge=challenge))

    body = assert_problem(response, 422, "validation-failed")
    assert body["errors"] == [
        {"pointer": "#/query/code_challenge", "detail": "Das Format ist ungültig."}
    ]
    assert await count(db, LoginAttempt) == 0


# The provider callback: state and code


async def test_second_callback_with_the_same_state_gets_400(client: httpx.AsyncClient) -> None:
    state = await begin_login(client)
    code = await code_from_page(client, state, "erika")
    first = await call_back(client, state, code)
    assert first.status_code == 303
    assert "code" in query_of(first.headers["location"])

    replay = await call_back(client, state, code)

    assert_problem(replay, 400, "invalid-login-state")


async def test_callback_after_the_login_expired_gets_400(
    client: httpx.AsyncClient, db: Database
) -> None:
    state = await begin_login(client)
    code = await code_from_page(client, state, "erika")
    async with db.transaction() as session:
        await session.execute(
            update(LoginAttempt)
            .where(LoginAttempt.state == state)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    response = await call_back(client, state, code)

    assert_problem(response, 400, "invalid-login-state")


@pytest.mark.parametrize("state", ["never-issued", "", "s" * 101])
async def test_callback_with_an_unknown_state_gets_400(
    client: httpx.AsyncClient, state: str
) -> None:
    await begin_login(client)

    response = await call_back(client, state, "erika.0")

    assert_problem(response, 400, "invalid-login-state")


async def test_citizen_login_state_is_refused_at_the_staff_callback(
    client: httpx.AsyncClient,
) -> None:
    state = await begin_login(client)
    code = await code_from_page(client, state, "erika")

    staff = await client.get(
        "/api/v1/auth/staff/dev-login/callback", params={"state": state, "code": code}
    )

    assert_problem(staff, 400, "invalid-login-state")
    citizen = await call_back(client, state, code)
    assert "code" in query_of(citizen.headers["location"])


async def _wrong_mac(client: httpx.AsyncClient, state: str) -> str:
    return "erika." + "0" * 64


async def _other_persona(client: httpx.AsyncClient, state: str) -> str:
    low = await code_from_page(client, state, "mia")
    return "erika" + low.removeprefix("mia")


async def _code_of_another_login(client: httpx.AsyncClient, state: str) -> str:
    return await code_from_page(client, await begin_login(client), "erika")


async def _non_ascii(client: httpx.AsyncClient, state: str) -> str:
    return "erika.prüfsumme"


async def _unknown_persona(client: httpx.AsyncClient, state: str) -> str:
    return await code_from_page(client, state, "jürgen")


async def _no_mac(client: httpx.AsyncClient, state: str) -> str:
    return "erika"


@pytest.mark.parametrize(
    "forge",
    [_wrong_mac, _other_persona, _code_of_another_login, _non_ascii, _unknown_persona, _no_mac],
)
async def test_forged_code_for_a_valid_state_returns_invalid_response(
    client: httpx.AsyncClient,
    db: Database,
    forge: Callable[[httpx.AsyncClient, str], Awaitable[str]],
) -> None:
    state = await begin_login(client)
    code = await forge(client, state)

    response = await call_back(client, state, code)

    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(RETURN_TO + "?")
    assert query_of(response.headers["location"]) == {
        "error": "access_denied",
        "error_code": "invalid_response",
        "state": "frontend-state-1",
    }
    assert await count(db, AuthSession) == 0
    assert await count(db, CitizenAccount) == 0


async def test_unknown_staff_persona_returns_invalid_response(client: httpx.AsyncClient) -> None:
    result = await authorize(client, "jürgen", staff=True)

    assert result == {
        "error": "access_denied",
        "error_code": "invalid_response",
        "state": "frontend-state-1",
    }


# The token endpoint: PKCE and one-time codes


async def test_code_without_pkce_verifier_gets_invalid_grant(client: httpx.AsyncClient) -> None:
    code = (await authorize(client, "erika"))["code"]

    response = await exchange(client, code, None)

    assert assert_problem(response, 400, "invalid-grant")["error"] == "invalid_grant"


async def test_code_with_wrong_pkce_verifier_gets_invalid_grant(client: httpx.AsyncClient) -> None:
    code = (await authorize(client, "erika", pkce=Pkce.new()))["code"]

    response = await exchange(client, code, Pkce.new().verifier)

    assert assert_problem(response, 400, "invalid-grant")["error"] == "invalid_grant"


async def test_code_used_twice_gets_invalid_grant_and_ends_the_first_session(
    client: httpx.AsyncClient,
) -> None:
    pkce = Pkce.new()
    code = (await authorize(client, "erika", pkce=pkce))["code"]
    first = await exchange(client, code, pkce.verifier)
    assert first.status_code == 200
    tokens = Tokens(first.json()["access_token"], first.json()["refresh_token"], first.json())
    assert (await client.get("/api/v1/me", headers=tokens.headers)).status_code == 200

    second = await exchange(client, code, pkce.verifier)

    assert assert_problem(second, 400, "invalid-grant")["error"] == "invalid_grant"
    assert_problem(await client.get("/api/v1/me", headers=tokens.headers), 401, "invalid-token")
    assert_problem(await refresh(client, tokens.refresh_token), 400, "invalid-grant")


async def test_expired_code_gets_invalid_grant(client: httpx.AsyncClient, db: Database) -> None:
    pkce = Pkce.new()
    code = (await authorize(client, "erika", pkce=pkce))["code"]
    async with db.transaction() as session:
        await session.execute(
            update(AuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1))
        )

    response = await exchange(client, code, pkce.verifier)

    assert assert_problem(response, 400, "invalid-grant")["error"] == "invalid_grant"


async def test_json_body_on_the_token_endpoint_gets_415(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, json=GUESS)

    assert_problem(response, 415, "unsupported-media-type")


async def test_unknown_grant_type_gets_unsupported_grant_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        TOKEN, data={"grant_type": "password", "username": "erika", "password": "geheim"}
    )

    body = assert_problem(response, 400, "unsupported-grant-type")
    assert body["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auth/bundid-fake/login",
        "/api/v1/auth/dev-login/login",
        "/api/v1/auth/bundid-fake/callback",
        "/api/v1/auth/staff/mock-eid/login",
    ],
)
async def test_unknown_provider_gets_404(client: httpx.AsyncClient, path: str) -> None:
    params = {"code": "x", "state": "s"} if path.endswith("/callback") else login_params()
    response = await client.get(path, params=params)

    assert_problem(response, 404, "unknown-identity-provider")


# Access and refresh tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(value: dict[str, object]) -> str:
    return _b64(json.dumps(value).encode())


def _json_segment(segment: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def _parts(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    header, payload, signature = token.split(".")
    return _json_segment(header), _json_segment(payload), signature


def _garbage(token: str, key: SigningKey) -> str:
    return "not-a-token"


def _three_garbage_segments(token: str, key: SigningKey) -> str:
    return "eyJ.eyJ.sig"


def _other_subject(token: str, key: SigningKey) -> str:
    header, payload, signature = token.split(".")
    claims = {**_json_segment(payload), "sub": str(uuid.uuid4())}
    return f"{header}.{_b64json(claims)}.{signature}"


def _cut_signature(token: str, key: SigningKey) -> str:
    return token[:-6]


def _alg_none(token: str, key: SigningKey) -> str:
    header, claims, _ = _parts(token)
    return f"{_b64json({**header, 'alg': 'none'})}.{_b64json(claims)}."


def _hs256_with_public_key(token: str, key: SigningKey) -> str:
    header, claims, _ = _parts(token)
    signing_input = f"{_b64json({**header, 'alg': 'HS256'})}.{_b64json(claims)}"
    mac = hmac.new(json.dumps(key.public_jwk).encode(), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64(mac.digest())}"


def _signed_by_another_key(token: str, key: SigningKey) -> str:
    header, claims, _ = _parts(token)
    signed: str = jws.sign(
        json.dumps(claims).encode(),
        generate_private_pem().decode(),
        headers={"kid": str(header["kid"]), "typ": "at+jwt"},
        algorithm="RS256",
    )
    return signed


def _expired(token: str, key: SigningKey) -> str:
    claims = _parts(token)[1]
    hour_ago = int(utcnow().timestamp()) - 3600
    return key.sign({**claims, "iat": hour_ago - 300, "nbf": hour_ago - 300, "exp": hour_ago})


def _other_audience(token: str, key: SigningKey) -> str:
    return key.sign({**_parts(token)[1], "aud": "some-other-api"})


@pytest.mark.parametrize(
    "tamper",
    [
        _garbage,
        _three_garbage_segments,
        _other_subject,
        _cut_signature,
        _alg_none,
        _hs256_with_public_key,
        _signed_by_another_key,
        _expired,
        _other_audience,
    ],
)
async def test_tampered_access_token_gets_401_with_bearer_challenge(
    client: httpx.AsyncClient, app: FastAPI, tamper: Callable[[str, SigningKey], str]
) -> None:
    tokens = await sign_in(client)
    forged = tamper(tokens.access_token, app.state.identity.signing_key)

    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})

    assert_problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("authorization", [None, "Basic ZXJpa2E6Z2VoZWlt", "Bearer"])
async def test_request_without_bearer_token_gets_401_with_bearer_challenge(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = await client.get("/api/v1/me", headers=headers)

    assert_problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_stolen_refresh_token_used_first_ends_the_thief_session_on_owner_refresh(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_in(client, "jonas")
    thief = await refresh(client, owner.refresh_token)
    assert thief.status_code == 200

    owner_attempt = await refresh(client, owner.refresh_token)

    assert_problem(owner_attempt, 400, "invalid-grant")
    thief_headers = {"Authorization": f"Bearer {thief.json()['access_token']}"}
    assert (await client.get("/api/v1/me", headers=thief_headers)).status_code == 401
    assert (await refresh(client, thief.json()["refresh_token"])).status_code == 400


@pytest.mark.parametrize("refresh_token", ["", "made-up-refresh-token"])
async def test_unknown_refresh_token_gets_invalid_grant(
    client: httpx.AsyncClient, refresh_token: str
) -> None:
    response = await refresh(client, refresh_token)

    assert assert_problem(response, 400, "invalid-grant")["error"] == "invalid_grant"


async def test_logout_ends_only_this_session_and_its_refresh_token(
    client: httpx.AsyncClient,
) -> None:
    phone = await sign_in(client, "jonas")
    laptop = await sign_in(client, "jonas")

    assert (await client.post("/api/v1/auth/logout", headers=phone.headers)).status_code == 200

    assert_problem(await client.get("/api/v1/me", headers=phone.headers), 401, "invalid-token")
    assert_problem(await refresh(client, phone.refresh_token), 400, "invalid-grant")
    again = await client.post("/api/v1/auth/logout", headers=phone.headers)
    assert_problem(again, 401, "invalid-token")
    assert (await client.get("/api/v1/me", headers=laptop.headers)).status_code == 200
    assert (await refresh(client, laptop.refresh_token)).status_code == 200


async def test_deleting_the_account_ends_all_sessions_and_erases_attributes(
    client: httpx.AsyncClient, db: Database
) -> None:
    phone = await sign_in(client, "erika", attributes=("DateOfBirth", "PlaceOfResidence"))
    laptop = await sign_in(client, "erika")
    account_id = uuid.UUID(await profile_id(client, phone))

    response = await client.delete("/api/v1/me", headers=phone.headers)

    assert response.status_code == 204
    for device in (phone, laptop):
        assert_problem(await client.get("/api/v1/me", headers=device.headers), 401, "invalid-token")
        assert_problem(await refresh(client, device.refresh_token), 400, "invalid-grant")
    async with db.transaction() as session:
        assert await session.get(CitizenAccount, account_id) is None
        attributes = await session.scalars(
            select(CitizenAttribute).where(CitizenAttribute.account_id == account_id)
        )
        assert list(attributes) == []
        sessions = list(
            await session.scalars(select(AuthSession).where(AuthSession.principal_id == account_id))
        )
        assert len(sessions) == 2
        assert {s.revoked_reason for s in sessions} == {"account_deleted"}
        entries = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "citizen.account_deleted")
            )
        )
    assert [(e.object_id, e.actor_type, e.actor_id) for e in entries] == [
        (str(account_id), "citizen", str(account_id))
    ]


async def test_low_level_login_cannot_delete_the_account(client: httpx.AsyncClient) -> None:
    tokens = await sign_in(client, "mia", level="low")

    response = await client.delete("/api/v1/me", headers=tokens.headers)

    assert assert_problem(response, 403, "insufficient-level-of-assurance")["required_level"] == (
        "substantial"
    )
    assert (await client.get("/api/v1/me", headers=tokens.headers)).status_code == 200


# One citizen's sessions are invisible to everybody else


async def test_citizen_cannot_end_another_citizens_session(client: httpx.AsyncClient) -> None:
    alice = await sign_in(client, "erika")
    bob = await sign_in(client, "jonas")
    bobs_sessions = (await client.get("/api/v1/me/sessions", headers=bob.headers)).json()["items"]
    bobs_session_id = bobs_sessions[0]["id"]

    response = await client.delete(f"/api/v1/me/sessions/{bobs_session_id}", headers=alice.headers)

    assert_problem(response, 404, "session-not-found")
    alices_sessions = (await client.get("/api/v1/me/sessions", headers=alice.headers)).json()[
        "items"
    ]
    assert bobs_session_id not in {s["id"] for s in alices_sessions}
    assert (await client.get("/api/v1/me", headers=bob.headers)).status_code == 200
    assert (await refresh(client, bob.refresh_token)).status_code == 200


async def test_citizen_ends_a_lost_phones_session_and_keeps_the_current_one(
    client: httpx.AsyncClient,
) -> None:
    phone = await sign_in(client, "jonas")
    laptop = await sign_in(client, "jonas")
    sessions = (await client.get("/api/v1/me/sessions", headers=laptop.headers)).json()["items"]
    phone_session_id = sessions[-1]["id"]

    ended = await client.delete(f"/api/v1/me/sessions/{phone_session_id}", headers=laptop.headers)

    assert ended.status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=phone.headers), 401, "invalid-token")
    assert (await client.get("/api/v1/me", headers=laptop.headers)).status_code == 200
    listed = (await client.get("/api/v1/me/sessions", headers=laptop.headers)).json()["items"]
    assert [s["revoked_at"] is not None for s in listed] == [False, True]


async def test_sessions_are_listed_newest_first_page_by_page(client: httpx.AsyncClient) -> None:
    devices = [await sign_in(client, "jonas") for _ in range(3)]
    current = devices[-1].headers

    first = await client.get("/api/v1/me/sessions", params={"limit": 2}, headers=current)
    second = await client.get(
        "/api/v1/me/sessions",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=current,
    )

    assert first.status_code == second.status_code == 200
    pages = first.json()["items"] + second.json()["items"]
    assert second.json()["next_cursor"] is None
    assert len({s["id"] for s in pages}) == 3
    created = [s["created_at"] for s in pages]
    assert created == sorted(created, reverse=True)


async def test_ending_an_already_ended_session_keeps_its_original_end(
    client: httpx.AsyncClient, db: Database
) -> None:
    phone = await sign_in(client, "jonas")
    laptop = await sign_in(client, "jonas")
    assert (await client.post("/api/v1/auth/logout", headers=phone.headers)).status_code == 200
    before = (await client.get("/api/v1/me/sessions", headers=laptop.headers)).json()["items"][-1]

    again = await client.delete(f"/api/v1/me/sessions/{before['id']}", headers=laptop.headers)

    assert again.status_code == 204
    after = (await client.get("/api/v1/me/sessions", headers=laptop.headers)).json()["items"][-1]
    assert after["revoked_at"] == before["revoked_at"]
    async with db.transaction() as session:
        reason = await session.scalar(
            select(AuthSession.revoked_reason).where(AuthSession.id == uuid.UUID(before["id"]))
        )
    assert reason == "logout"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/me/export"),
        ("GET", "/api/v1/me/sessions"),
        ("DELETE", "/api/v1/me/sessions/00000000-0000-4000-8000-000000000000"),
        ("DELETE", "/api/v1/me"),
    ],
)
async def test_staff_token_on_citizen_endpoints_gets_403(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    staff = await sign_in(client, "admin", staff=True)

    response = await client.request(method, path, headers=staff.headers)

    assert_problem(response, 403, "wrong-principal")


# Data minimisation and pseudonymous accounts


async def test_only_requested_attributes_and_names_are_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    await sign_in(client, "erika", level="high", attributes=("DateOfBirth",))

    async with db.transaction() as session:
        names = set(await session.scalars(select(CitizenAttribute.name)))
    assert names == {"FamilyNames", "GivenNames", "DateOfBirth"}


async def test_same_person_gets_the_same_account_and_another_person_a_different_one(
    client: httpx.AsyncClient, db: Database
) -> None:
    first = await profile_id(client, await sign_in(client, "erika"))
    again = await profile_id(client, await sign_in(client, "erika"))
    other = await profile_id(client, await sign_in(client, "jonas"))

    assert first == again
    assert other != first
    async with db.transaction() as session:
        account = await session.get(CitizenAccount, uuid.UUID(first))
        assert await session.scalar(select(func.count()).select_from(CitizenAccount)) == 2
    assert account is not None
    assert (account.provider, account.issuer, account.subject) == (
        "mock-eid",
        "urn:rathaus:mock-eid",
        "mock-restricted-id-erika-mustermann",
    )


# Brute force on the token endpoint


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Fifteen seconds into a rate-limit window, so that no test straddles two windows."""
    moment = utcnow().replace(second=15, microsecond=0)
    monkeypatch.setattr("app.core.ratelimit.utcnow", lambda: moment)
    return moment


async def test_token_attempts_over_the_limit_get_429_even_when_they_failed(
    database_url: str, db: Database, pinned_clock: datetime
) -> None:
    app = create_app(make_settings(database_url, token_rate_limit_per_minute=3), database=db)
    async with client_for(app) as client:
        pkce = Pkce.new()
        code = (await authorize(client, "erika", pkce=pkce))["code"]
        failed = [(await client.post(TOKEN, data=GUESS)).status_code for _ in range(3)]

        limited = await exchange(client, code, pkce.verifier)

    assert failed == [400, 400, 400]
    assert_problem(limited, 429, "too-many-requests")
    assert limited.headers["retry-after"] == "45"
    other_address = httpx.ASGITransport(app=app, client=("192.0.2.7", 4711))
    async with httpx.AsyncClient(transport=other_address, base_url="http://testserver") as other:
        assert (await exchange(other, code, pkce.verifier)).status_code == 200


async def test_token_rate_limit_is_shared_by_app_instances_on_one_database(
    database_url: str, committed_db: Database, pinned_clock: datetime
) -> None:
    settings = make_settings(database_url, token_rate_limit_per_minute=4)
    second_engine = create_engine(settings)
    first_app = create_app(settings, database=committed_db)
    second_app = create_app(settings, database=Database(second_engine))
    try:
        async with client_for(first_app) as first, client_for(second_app) as second:
            statuses = [
                (await client.post(TOKEN, data=GUESS)).status_code
                for client in (first, second, first, second, first, second)
            ]
    finally:
        await second_engine.dispose()

    assert statuses == [400, 400, 400, 400, 429, 429]
    async with committed_db.transaction() as session:
        counted = await session.scalar(select(func.sum(RateLimitCounter.count)))
    assert counted == 6


# Races


async def test_one_code_exchanged_by_twelve_concurrent_requests_succeeds_once(
    committed_client: httpx.AsyncClient,
) -> None:
    pkce = Pkce.new()
    code = (await authorize(committed_client, "erika", pkce=pkce))["code"]

    responses = await asyncio.gather(
        *(exchange(committed_client, code, pkce.verifier) for _ in range(12))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 11, [r.text for r in responses if r.status_code != 400]


async def test_one_refresh_token_refreshed_by_twelve_concurrent_requests_succeeds_once(
    committed_client: httpx.AsyncClient,
) -> None:
    tokens = await sign_in(committed_client, "jonas")

    responses = await asyncio.gather(
        *(refresh(committed_client, tokens.refresh_token) for _ in range(12))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 11, [r.text for r in responses if r.status_code != 400]


async def sign_in_concurrently(
    client: httpx.AsyncClient, persona: str, times: int, *, staff: bool = False
) -> list[httpx.Response]:
    """`times` sign-ins of one person, asking for DateOfBirth, whose callbacks race."""
    provider, auth = ("dev-login", "auth/staff") if staff else ("mock-eid", "auth")
    params = login_params() if staff else {**login_params(), "attributes": "DateOfBirth"}
    callbacks = []
    for _ in range(times):
        start = await client.get(f"/api/v1/{auth}/{provider}/login", params=params)
        state = query_of(start.headers["location"])["state"]
        chosen = await client.post(
            f"/{provider}/authorize", data={"persona": persona, "state": state}
        )
        callbacks.append(urlsplit(chosen.headers["location"]))
    return await asyncio.gather(
        *(client.get(f"{callback.path}?{callback.query}") for callback in callbacks)
    )


async def test_racing_sign_ins_of_one_citizen_asking_for_a_new_attribute_all_succeed(
    committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    await sign_in(committed_client, "erika")

    responses = await sign_in_concurrently(committed_client, "erika", 6)

    assert [r.status_code for r in responses] == [303] * 6
    assert all("code" in query_of(r.headers["location"]) for r in responses)
    async with committed_db.transaction() as session:
        names = list(await session.scalars(select(CitizenAttribute.name)))
    assert sorted(names) == ["DateOfBirth", "FamilyNames", "GivenNames"]


async def test_racing_sign_ins_of_one_staff_member_all_succeed(
    committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        await create_department(session, code="51")

    responses = await sign_in_concurrently(committed_client, "clerk-jugendamt", 6, staff=True)

    assert [r.status_code for r in responses] == [303] * 6
    assert all("code" in query_of(r.headers["location"]) for r in responses)
    assert await count(committed_db, StaffRoleGrant) == 1
