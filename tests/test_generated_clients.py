"""Integrators generate their clients from the committed contract; those clients must work.

The Python client comes from openapi-python-client (in the dev lock), the TypeScript types from
openapi-typescript with openapi-fetch (pinned in clients/typescript/package-lock.json, installed
by `make test`). Both are generated from `openapi/openapi.json` as committed, checked (every
operation generated; `tsc --strict` on the types and clients/typescript/src/smoke.ts) and then
call a real `rathaus serve`, migrated and seeded as an operator does it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from app.cli import OPENAPI_PATH
from app.demo import CITY, DEMO_BRANCHES
from tests.fixtures.auth import sign_in
from tests.fixtures.live_server import seeded_server

TYPESCRIPT = Path(__file__).resolve().parents[1] / "clients" / "typescript"
NODE_BIN = TYPESCRIPT / "node_modules" / ".bin"
PYTHON_PACKAGE = "rathaus_client"
TOOL_TIMEOUT_SECONDS = 120
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

# The clients call a server on PostgreSQL, the database CI requires; one backend is enough to
# show that what was generated talks to the server.
on_postgresql = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    citizen_token: str
    client_id: str
    client_secret: str


async def _credentials(base_url: str) -> tuple[str, str, str]:
    """A citizen's access token, and the id and secret of an integrator's client."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        citizen = await sign_in(http, "erika", level="high")
        admin = await sign_in(http, "admin", staff=True)
        created = await http.post(
            "/api/v1/admin/clients",
            json={"name": "Generated client", "scopes": ["branches:read"]},
            headers=admin.headers,
        )
        assert created.status_code == 201, created.text
        client = created.json()
        return citizen.access_token, client["client_id"], client["client_secret"]


@pytest.fixture(scope="module")
def live_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[LiveServer]:
    # The pid keeps concurrent test runs on one machine out of each other's way.
    name = f"rathaus_clients_{worker_id}_{os.getpid()}"
    directory = tmp_path_factory.mktemp("clients")
    with seeded_server(backend, name, directory, {"RATHAUS_ENV": "test"}) as base_url:
        yield LiveServer(base_url, *asyncio.run(_credentials(base_url)))


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
        **kwargs,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return completed


@cache
def _operation_ids() -> dict[str, str]:
    """Each operationId of the committed contract, with its tag."""
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    return {
        operation["operationId"]: operation["tags"][0]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


@pytest.fixture(scope="module")
def python_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated Python package, imported from a temporary directory."""
    directory = tmp_path_factory.mktemp("python-client")
    # The generator formats its output with ruff, which lies next to this interpreter.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    _run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(OPENAPI_PATH),
            "--output-path",
            str(directory / PYTHON_PACKAGE),
            "--meta",
            "none",
            "--fail-on-warning",
        ],
        env=os.environ | {"PATH": path},
    )
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(PYTHON_PACKAGE)
    finally:
        sys.path.remove(str(directory))
        for module in [m for m in sys.modules if m.partition(".")[0] == PYTHON_PACKAGE]:
            del sys.modules[module]


def _endpoint(package: ModuleType, operation_id: str) -> ModuleType:
    tag = _operation_ids()[operation_id]
    return importlib.import_module(f"{package.__name__}.api.{tag}.{operation_id}")


def test_python_client_has_a_function_for_every_operation(python_client: ModuleType) -> None:
    missing = [
        operation_id
        for operation_id in _operation_ids()
        if not callable(getattr(_endpoint(python_client, operation_id), "sync_detailed", None))
    ]

    assert missing == []


@on_postgresql
def test_python_client_reads_typed_branches_problems_and_the_signed_in_citizen(
    python_client: ModuleType, live_server: LiveServer
) -> None:
    models = importlib.import_module(f"{PYTHON_PACKAGE}.models")
    list_branches = _endpoint(python_client, "organisation_list_branches")
    get_branch = _endpoint(python_client, "organisation_get_branch")
    me = _endpoint(python_client, "identity_me")
    token = _endpoint(python_client, "identity_token")

    with python_client.Client(base_url=live_server.base_url) as client:
        page = list_branches.sync(client=client, limit=2)
        assert isinstance(page, models.BranchPage)
        assert len(page.items) == 2
        assert isinstance(page.next_cursor, str)
        first = page.items[0]
        assert isinstance(first.id, UUID)
        assert isinstance(first.address, models.Address)
        assert first.address.city == CITY

        found = get_branch.sync_detailed(branch_id=first.id, client=client)
        assert isinstance(found.parsed, models.BranchRead)
        assert found.parsed.name == first.name
        assert found.headers["ETag"] == f'"v{found.parsed.version}"'

        unknown = get_branch.sync_detailed(branch_id=uuid4(), client=client)
        assert unknown.status_code == 404
        assert isinstance(unknown.parsed, models.Problem)
        assert unknown.parsed.status == 404
        assert unknown.parsed.request_id == unknown.headers["X-Request-ID"]

        issued = token.sync(
            client=client,
            body=models.TokenRequest(
                grant_type=models.TokenRequestGrantType.CLIENT_CREDENTIALS,
                client_id=live_server.client_id,
                client_secret=live_server.client_secret,
            ),
        )
        assert isinstance(issued, models.TokenResponse)
        assert issued.scope == "branches:read"

    citizen = python_client.AuthenticatedClient(
        base_url=live_server.base_url, token=live_server.citizen_token
    )
    with citizen:
        profile = me.sync(client=citizen)
    assert isinstance(profile, models.ProfileRead)
    assert profile.provider == "mock-eid"
    assert profile.level is models.AssuranceLevel.HIGH


def _node_tool(name: str) -> str:
    tool = NODE_BIN / name
    assert tool.exists(), f"{tool} is missing: `make test` installs it with npm ci"
    return str(tool)


@on_postgresql
def test_typescript_client_type_checks_strictly_and_calls_the_live_server(
    live_server: LiveServer,
) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for the TypeScript client"
    schema = TYPESCRIPT / "src" / "schema.d.ts"
    _run([_node_tool("openapi-typescript"), str(OPENAPI_PATH), "--output", str(schema)])
    shutil.rmtree(TYPESCRIPT / "dist", ignore_errors=True)
    # With clients/typescript/tsconfig.json: target ES2022, module nodenext, every .d.ts
    # checked too, and no JavaScript at all when there is a type error.
    _run([_node_tool("tsc"), "--project", str(TYPESCRIPT), "--strict"])

    completed = _run(
        [node, str(TYPESCRIPT / "dist" / "smoke.js")],
        env=os.environ
        | {
            "API_BASE_URL": live_server.base_url,
            "API_CLIENT_ID": live_server.client_id,
            "API_CLIENT_SECRET": live_server.client_secret,
        },
    )

    assert json.loads(completed.stdout) == {
        "branches": 2,
        "first_city": CITY,
        "branch_name": min(branch.name for branch in DEMO_BRANCHES),
        "etag": '"v1"',
        "unknown_status": 404,
        "token_scope": "branches:read",
        "client_name": "Generated client",
    }
