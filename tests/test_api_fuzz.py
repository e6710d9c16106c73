"""Every operation in the committed contract, fuzzed with valid and invalid input (schemathesis).

A real `rathaus serve` runs on each backend, migrated and seeded as an operator would do it.
Each operation gets generated requests, many of them deliberately wrong (wrong types, missing
fields, strings with control characters, oversized values), with the token of a signed-in
citizen, administrator or integrator client. Every answer must:

* never be a 5xx;
* have a status code, content type, headers and body that `openapi/openapi.json` declares;
* reject the invalid input with a 4xx instead of accepting it, and accept the valid input;
* answer an unsupported method with 405 and the right `Allow`, and a missing or wrong token
  with 401.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from app.core.schemas import email_address
from tests.fixtures.auth import RETURN_TO, sign_in
from tests.fixtures.live_server import seeded_server

OPENAPI = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
EXAMPLES_PER_OPERATION = 50

# A provider's callback with a state no login started is refused with 400, however well-formed
# the state is: it is the browser coming back from a sign-in, and none is waiting for it. It
# takes whatever query the provider sends, so no query parameter is "unexpected" there.
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-operation-id": ["identity_callback", "identity_staff_callback"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "400", "404"]},
                    "negative_data_rejection": {"enabled": False},
                },
            },
            # A range of dates that each are well-formed can still be one the report cannot
            # cover (`to` before `from`, over 92 days, open data of a day not yet ended): JSON
            # Schema cannot relate two parameters, so that 422 is the description's.
            {
                "include-operation-id": [
                    "appointments_statistics",
                    "appointments_statistics_csv",
                    "appointments_open_data",
                    "appointments_open_data_csv",
                ],
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "422"]
                    },
                },
            },
        ]
    }
)
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)


def _accepted_address(address: str) -> bool:
    try:
        email_address(address)
    except PydanticCustomError:
        return False
    return True


# `format: email` as this API reads it: the address syntax of RFC 5322 at a domain that can
# receive mail, so not at a special-use one such as `.test` (the field's description says so).
schemathesis.openapi.format("email", st.emails().filter(_accepted_address))

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
    # A cursor is signed by the server, so a generated one is refused (400) however valid its
    # form; valid requests start at the first page, invalid ones keep theirs.
    if isinstance(case.query, dict) and case.meta and _is_positive(case):
        case.query.pop("cursor", None)
    return case


def _is_positive(case: schemathesis.Case) -> bool:
    return case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE


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
    server_settings = {
        "RATHAUS_ENV": "test",
        "RATHAUS_TOKEN_RATE_LIMIT_PER_MINUTE": "1000000",
        "RATHAUS_LOGIN_RATE_LIMIT_PER_MINUTE": "1000000",
        "RATHAUS_ACCESS_TOKEN_TTL_SECONDS": "3600",
    }
    # The pid keeps concurrent test runs on one machine out of each other's way.
    name = f"rathaus_fuzz_{worker_id}_{os.getpid()}"
    directory = tmp_path_factory.mktemp("fuzz")
    with seeded_server(backend, name, directory, server_settings) as base_url:
        yield LiveServer(base_url, *asyncio.run(_tokens(base_url)))


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
    # Every check schemathesis has: also "valid input accepted", the `Allow` of a 405, and
    # that authentication is not ignored.
    case.call_and_validate(base_url=live_server.base_url, headers=headers)
