"""Every error a client sees is RFC 9457 problem+json, in German or English."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.organisation.models import Branch
from tests.conftest import (
    PG_HOST,
    PG_PORT,
    _pg_execute,
    _require_or_skip_postgres,
    client_for,
    make_settings,
)
from tests.fixtures.error_probe import router as probe_router

PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}
VALID_APPLICANT = {"name": "Erika", "age": 40, "contact": {"email": "erika@example.org"}}


@pytest.fixture
async def probe_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(probe_router)
    async with client_for(app) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem.keys() >= PROBLEM_MEMBERS
    assert problem["status"] == status
    assert problem["request_id"] == response.headers["x-request-id"]
    assert str(problem["type"]).startswith("https://")
    return dict(problem)


async def test_unknown_path_gets_404_problem_in_german(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get("/api/v1/does-not-exist")

    problem = assert_problem(response, 404)
    assert problem["title"] == "Nicht gefunden"
    assert problem["instance"] == "/api/v1/does-not-exist"
    assert response.headers["content-language"] == "de"


async def test_accept_language_en_gets_english_problem(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get(
        "/api/v1/does-not-exist", headers={"Accept-Language": "fr;q=1, en;q=0.8, de;q=0.5"}
    )

    problem = assert_problem(response, 404)
    assert problem["title"] == "Not found"
    assert response.headers["content-language"] == "en"


async def test_wrong_method_gets_405_problem_with_allow(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.delete("/api/v1/branches")

    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


async def test_malformed_json_gets_400_problem(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/probe/applicants",
        content=b'{"name": "Erika", "age": ',
        headers={"Content-Type": "application/json"},
    )

    problem = assert_problem(response, 400)
    assert str(problem["type"]).endswith("/malformed-body")
    assert problem["detail"] == "Der Anfragetext ist kein gültiges JSON."


async def test_wrong_types_get_422_with_one_pointer_per_field(
    probe_client: httpx.AsyncClient,
) -> None:
    response = await probe_client.post(
        "/probe/applicants",
        json={"name": "E", "age": "vierzig", "contact": {"email": 42}, "extra": True},
        headers={"Accept-Language": "en"},
    )

    problem = assert_problem(response, 422)
    errors = {e["pointer"]: e["detail"] for e in problem["errors"]}  # type: ignore[attr-defined]
    assert errors == {
        "#/name": "At least 2 characters are required.",
        "#/age": "An integer is expected.",
        "#/contact/email": "A string is expected.",
        "#/extra": "This field is not allowed.",
    }


async def test_validation_problem_never_echoes_the_input(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/probe/applicants",
        json={"name": "Erika", "age": 40, "contact": {"email": "x" * 60 + "@geheim.example"}},
    )

    assert_problem(response, 422)
    assert "geheim" not in response.text


async def test_json_array_instead_of_object_gets_422(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post("/probe/applicants", json=[1, 2, 3])

    problem = assert_problem(response, 422)
    assert problem["errors"] == [{"pointer": "#", "detail": "Erwartet wird ein JSON-Objekt."}]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_wrong_content_type_gets_415(
    probe_client: httpx.AsyncClient, content_type: str
) -> None:
    response = await probe_client.post(
        "/probe/applicants", content=b'{"name": "Erika"}', headers={"Content-Type": content_type}
    )

    problem = assert_problem(response, 415)
    assert str(problem["type"]).endswith("/unsupported-media-type")


async def test_json_with_charset_is_accepted(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/probe/applicants",
        content=b'{"name": "Erika", "age": 40, "contact": {"email": "e@example.org"}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 201
    assert response.json() == {"name": "Erika"}


async def test_oversized_body_gets_413(probe_client: httpx.AsyncClient, settings: Settings) -> None:
    body = b'{"name": "' + b"x" * settings.max_body_bytes + b'"}'

    response = await probe_client.post(
        "/probe/applicants", content=body, headers={"Content-Type": "application/json"}
    )

    assert_problem(response, 413)


async def test_oversized_streamed_body_without_length_gets_413(
    probe_client: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = await probe_client.post(
        "/probe/applicants", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert_problem(response, 413)


async def test_unexpected_error_gets_500_without_internals(
    probe_client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await probe_client.get("/probe/crash", headers={"X-Request-ID": "req-crash-1"})

    problem = assert_problem(response, 500)
    assert problem["request_id"] == "req-crash-1"
    for leaked in ("Mustermann", "IBAN", "hunter2", "RuntimeError", "Traceback", "File "):
        assert leaked not in response.text
    logs = capsys.readouterr().err
    assert "req-crash-1" in logs
    assert "RuntimeError" in logs
    assert "Mustermann" not in logs
    assert "hunter2" not in logs


async def test_failed_request_leaves_nothing_half_written(
    probe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await probe_client.post("/probe/crash-after-write", json=VALID_APPLICANT)

    assert_problem(response, 500)
    count = await session.scalar(
        select(func.count()).select_from(Branch).where(Branch.code == "half-written")
    )
    assert count == 0


async def test_rate_limited_request_gets_429_with_retry_after(
    probe_client: httpx.AsyncClient,
) -> None:
    response = await probe_client.get("/probe/throttled")

    assert_problem(response, 429)
    assert response.headers["retry-after"] == "42"


async def test_unreachable_database_gets_503_problem() -> None:
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:9/nowhere")
    app = create_app(settings)
    async with client_for(app) as client:
        response = await client.get(f"/api/v1/branches/{uuid.uuid4()}")
        ready = await client.get("/readyz")

    assert_problem(response, 503)
    assert response.headers["retry-after"]
    problem = assert_problem(ready, 503)
    assert problem["detail"] == "Die Datenbank ist nicht erreichbar."


async def test_a_database_with_no_room_for_another_connection_gets_503_not_500() -> None:
    """PostgreSQL refusing a connection (too many connections, SQLSTATE 53300) is a passing
    overload: 503 with Retry-After, like an unreachable database."""
    await asyncio.to_thread(_require_or_skip_postgres)
    await _pg_execute(
        "DO $$ BEGIN CREATE ROLE rathaus_no_room LOGIN CONNECTION LIMIT 0; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    settings = make_settings(f"postgresql+asyncpg://rathaus_no_room@{PG_HOST}:{PG_PORT}/postgres")
    app = create_app(settings)
    async with client_for(app) as client:
        response = await client.get(f"/api/v1/branches/{uuid.uuid4()}")

    assert_problem(response, 503)
    assert response.headers["retry-after"]
    assert "rathaus_no_room" not in response.text


async def test_readiness_reports_database_and_migrations(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "migrations": "head"}


async def test_liveness_needs_no_database(db: Database) -> None:
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:9/nowhere")
    async with client_for(create_app(settings)) as client:
        response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
