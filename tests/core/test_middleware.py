"""Request ids, logs, metrics, security headers and CORS, as a client or operator sees them."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Environment, Settings
from app.core.db import Database
from app.identity.jwt import generate_private_pem
from app.main import create_app
from tests.conftest import client_for
from tests.fixtures.factories import create_branch


async def test_valid_request_id_is_echoed_and_unusable_ones_replaced(
    client: httpx.AsyncClient,
) -> None:
    for unusable in ("has spaces", "x" * 200, "<script>"):
        response = await client.get("/healthz", headers={"X-Request-ID": unusable})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])

    response = await client.get("/healthz", headers={"X-Request-ID": "buergerapp-4711"})
    assert response.headers["x-request-id"] == "buergerapp-4711"


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_api_responses_carry_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/branches")

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers


async def test_production_responses_add_hsts(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(generate_private_pem())
    production = settings.model_copy(
        update={
            "jwt_private_key_file": str(key_file),
            "env": Environment.production,
            "secret_key": "x" * 40,
            "identity_providers": [],
            "database_url": "postgresql+asyncpg://u@db/rathaus",
            "mail_transport": "smtp",
            "mail_from": "Stadt <rathaus@stadt.example>",
            "public_base_url": "https://rathaus.stadt.example",
            "cors_origins": ["https://buergerapp.stadt.example"],
            "auth_return_to_allowlist": ["https://buergerapp.stadt.example/"],
        }
    )
    async with client_for(create_app(production, database=db)) as client:
        response = await client.get("/healthz")

    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_swagger_ui_is_served_with_its_own_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "swagger-ui" in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "cdn" not in csp


async def test_cors_allows_only_configured_origins(client: httpx.AsyncClient) -> None:
    allowed = await client.options(
        "/api/v1/branches",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
    )
    refused = await client.options(
        "/api/v1/branches",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )

    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "access-control-allow-origin" not in refused.headers


async def test_responses_vary_by_language_and_origin_with_or_without_cors(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/api/v1/branches")
    cross_origin = await client.get("/api/v1/branches", headers={"Origin": "http://localhost:3000"})

    assert plain.headers["vary"] == "Accept-Language, Origin"
    assert "access-control-allow-origin" not in plain.headers
    assert cross_origin.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert cross_origin.headers["access-control-expose-headers"]
    assert {v.strip() for v in cross_origin.headers["vary"].split(",")} == {
        "Accept-Language",
        "Origin",
    }


async def test_metrics_count_requests_per_route_template(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    branch = await create_branch(session)
    await session.commit()

    def count(text: str) -> float:
        pattern = (
            r'rathaus_http_requests_total\{method="GET",route="/api/v1/branches/\{branch_id\}",'
            r'status="200"\} ([0-9.]+)'
        )
        match = re.search(pattern, text)
        return float(match.group(1)) if match else 0.0

    before = count((await client.get("/metrics")).text)
    await client.get(f"/api/v1/branches/{branch.id}")
    await client.get(f"/api/v1/branches/{branch.id}")
    after = (await client.get("/metrics")).text

    assert count(after) == before + 2
    assert str(branch.id) not in after
    assert 'rathaus_http_request_duration_seconds_bucket{le="0.005",method="GET"' in after


async def test_access_log_is_json_without_ids_or_query(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    branch_id = uuid.uuid4()
    await client.get(
        f"/api/v1/branches/{branch_id}?name=Erika+Mustermann",
        headers={"X-Request-ID": "req-log-1"},
    )

    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line.get("event") == "request"]
    assert access[-1]["request_id"] == "req-log-1"
    assert access[-1]["route"] == "/api/v1/branches/{branch_id}"
    assert access[-1]["status"] == 422
    assert access[-1]["duration_ms"] >= 0
    raw = json.dumps(lines)
    assert str(branch_id) not in raw
    assert "Mustermann" not in raw


async def test_sign_in_pages_may_send_the_browser_back_to_allowed_frontends(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/mock-eid/authorize", params={"state": "s"})

    csp = response.headers["content-security-policy"]
    assert (
        "form-action 'self' http://127.0.0.1:3000 http://127.0.0.1:8000 http://localhost:3000"
        in csp
    )
    assert "script-src" not in csp
    assert "frame-ancestors 'none'" in csp
