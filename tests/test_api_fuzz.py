"""Every operation in the committed contract, fuzzed with valid and invalid input (schemathesis).

A real `rathaus serve` runs on each backend, migrated and seeded as an operator would do it.
Each operation gets generated requests, many of them deliberately wrong (wrong types, missing
fields, strings with control characters, oversized values), with the token of a signed-in
citizen, administrator or integrator client. Every answer must:

* never be a 5xx;
* have a status code, content type, headers and body that `openapi/openapi.json` declares;
* reject the invalid input with a 4xx instead of accepting it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bench.server import running_server
from tests.conftest import create_pg_database, drop_pg_database, run_cli
from tests.fixtures.auth import RETURN_TO, sign_in

OPENAPI = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
EXAMPLES_PER_OPERATION = 50

schema = schemathesis.openapi.from_path(OPENAPI)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# Fuzzed without a token: with one they would end the very session the other operations use.
SESSION_ENDING = frozenset({"identity_logout", "identity_delete_me"})


# A generated sign-in with a random provider or `return_to` stops at the first check; with a
# provider that exists and an allowed `return_to`, the rest of the generated request (state,
# level, attributes) goes all the way into the database.
@schema.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    if isinstance(case.path_parameters, dict) and "provider" in case.path_parameters:
        case.path_parameters["provider"] = "dev-login" if "/staff/" in case.path else "mock-eid"
    if isinstance(case.query, dict) and isinstance(case.query.get("return_to"), str):
        case.query["return_to"] = RETURN_TO
    return case


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    citizen: str
    admin: str
    client: str

    def headers_for(self, operation_id: str, path: str) -> dict[str, str]:
        if operation_id in SESSION_ENDING:
            return {}
        if path.startswith("/api/v1/me"):
            token = self.citizen
        elif path.startswith("/api/v1/clients/me"):
            token = self.client
        else:
            token = self.admin
        return {"Authorization": f"Bearer {token}"}


async def _tokens(base_url: str) -> tuple[str, str, str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        citizen = await sign_in(http, "erika", level="high")
        admin = await sign_in(http, "admin", staff=True)
        created = await http.post(
            "/api/v1/admin/clients",
            json={"name": "Fuzzing client", "scopes": ["departments:read", "branches:read"]},
            headers=admin.headers,
        )
        assert created.status_code == 201, created.text
        issued = await http.post(
            "/api/v1/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(created.json()["client_id"], created.json()["client_secret"]),
        )
        assert issued.status_code == 200, issued.text
        return citizen.access_token, admin.access_token, issued.json()["access_token"]


@pytest.fixture(scope="session")
def live_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[LiveServer]:
    name = f"rathaus_fuzz_{worker_id}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    else:
        url = create_pg_database(name)
    try:
        for command in ("migrate", "seed-demo"):
            completed = run_cli(command, env={"RATHAUS_DATABASE_URL": url})
            assert completed.returncode == 0, completed.stderr
        server_settings = {
            "RATHAUS_ENV": "test",
            "RATHAUS_TOKEN_RATE_LIMIT_PER_MINUTE": "1000000",
            "RATHAUS_ACCESS_TOKEN_TTL_SECONDS": "3600",
        }
        with running_server(url, workers=1, settings=server_settings) as port:
            base_url = f"http://127.0.0.1:{port}"
            yield LiveServer(base_url, *asyncio.run(_tokens(base_url)))
    finally:
        if backend == "postgresql":
            drop_pg_database(name)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_operation_answers_any_input_within_its_contract(
    case: schemathesis.Case, live_server: LiveServer
) -> None:
    headers = live_server.headers_for(case.operation.definition.raw["operationId"], case.path)
    case.call_and_validate(base_url=live_server.base_url, headers=headers, checks=CHECKS)
