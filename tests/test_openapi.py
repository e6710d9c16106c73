"""The committed OpenAPI document is the contract integrators build against."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

from app.cli import OPENAPI_PATH, render_openapi
from app.core.principal import ClientScope
from tests.fixtures.probe_routes import install_probe_routes

OPERATIONAL_PATHS = {"/healthz", "/readyz", "/.well-known/jwks.json"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(json.loads(render_openapi()))


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_committed_openapi_matches_the_app() -> None:
    committed = OPENAPI_PATH.read_text(encoding="utf-8")

    assert committed == render_openapi(), "openapi/openapi.json drifted: run `rathaus openapi`"


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_api_routes_live_under_api_v1(document: dict[str, Any]) -> None:
    for path in document["paths"]:
        assert path.startswith("/api/v1/") or path in OPERATIONAL_PATHS, path


def test_every_operation_has_tag_and_stable_operation_id(document: dict[str, Any]) -> None:
    seen: set[str] = set()
    for path, method, operation in operations(document):
        assert len(operation.get("tags", [])) == 1, f"{method} {path} needs one tag"
        tag = operation["tags"][0]
        operation_id = operation["operationId"]
        assert re.fullmatch(rf"{tag}_[a-z][a-z0-9_]*", operation_id), operation_id
        assert operation_id not in seen
        seen.add(operation_id)


def test_every_operation_declares_a_typed_success_response(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        responses = operation["responses"]
        successes = {k: v for k, v in responses.items() if k.startswith("2")}
        if not successes:
            assert "303" in responses, f"{method} {path} has neither a success nor a redirect"
            continue
        for status, response in successes.items():
            if status == "204":
                continue
            [(media_type, content)] = response["content"].items()
            assert content["schema"], f"{method} {path} {status} {media_type} has no schema"


def test_every_operation_lists_its_problems_as_problem_json(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        responses = operation["responses"]
        for status in ("400", "422", "500", "503"):
            assert status in responses, f"{method} {path} does not list {status}"
        for status, response in responses.items():
            if status[0] not in "45":
                continue
            content = response["content"]
            assert list(content) == ["application/problem+json"], f"{method} {path} {status}"
            ref = content["application/problem+json"]["schema"]["$ref"]
            assert ref in ("#/components/schemas/Problem", "#/components/schemas/ValidationProblem")


def test_problem_schema_has_rfc_9457_members(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]

    assert set(problem["required"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "request_id",
    }
    validation = document["components"]["schemas"]["ValidationProblem"]
    assert "errors" in validation["required"]


def test_every_operation_and_parameter_is_described_for_integrators(
    document: dict[str, Any],
) -> None:
    for path, method, operation in operations(document):
        assert len(operation.get("description", "")) >= 40, f"{method} {path}"
        for parameter in operation.get("parameters", []):
            assert parameter.get("description"), f"{method} {path} {parameter['name']}"


def test_request_bodies_carry_examples(document: dict[str, Any]) -> None:
    bodies = 0
    for path, method, operation in operations(document):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            bodies += 1
            assert media.get("examples"), f"{method} {path} {media_type}"
    assert bodies >= 4


def test_schema_names_read_well_and_tags_are_declared(document: dict[str, Any]) -> None:
    names = list(document["components"]["schemas"])
    assert not [n for n in names if n.startswith("Body_") or "_" in n], names
    declared = {tag["name"] for tag in document["tags"]}
    used = {tag for _, _, operation in operations(document) for tag in operation["tags"]}
    assert used <= declared
    assert "identity" in declared


def test_the_assurance_level_is_one_named_schema(document: dict[str, Any]) -> None:
    levels = ["low", "substantial", "high"]
    raw = json.dumps(document)

    assert document["components"]["schemas"]["AssuranceLevel"]["enum"] == levels
    assert raw.count(json.dumps(levels)) == 1


def test_client_scopes_and_grant_types_are_enums(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    assert set(schemas["ClientScope"]["enum"]) == {s.value for s in ClientScope}
    assert schemas["ClientCreate"]["properties"]["scopes"]["items"] == {
        "$ref": "#/components/schemas/ClientScope"
    }
    assert schemas["TokenRequest"]["properties"]["grant_type"]["enum"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
    ]


def test_security_is_declared_per_operation(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearer"]["description"],
    }
    flow = schemes["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/api/v1/auth/token"
    assert set(flow["scopes"]) == {s.value for s in ClientScope}
    paths = document["paths"]
    assert paths["/api/v1/branches"]["get"]["security"] == []
    assert paths["/api/v1/auth/token"]["post"]["security"] == []
    assert paths["/api/v1/me"]["get"]["security"] == [{"bearer": []}]
    assert paths["/api/v1/clients/me"]["get"]["security"] == [{"oauth2": []}]
    for path, method, operation in operations(document):
        assert "security" in operation, f"{method} {path}"
        if operation["security"]:
            assert "401" in operation["responses"], f"{method} {path}"


def test_response_headers_are_declared(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            headers = response.get("headers", {})
            assert "X-Request-ID" in headers, f"{method} {path} {status}"
            if status == "401":
                assert "WWW-Authenticate" in headers
            if status in ("429", "503"):
                assert "Retry-After" in headers
            if status[0] in "45":
                assert "Content-Language" in headers
    paths = document["paths"]
    assert "ETag" in paths["/api/v1/branches/{branch_id}"]["get"]["responses"]["200"]["headers"]
    assert "ETag" in paths["/api/v1/branches/{branch_id}"]["patch"]["responses"]["200"]["headers"]
    created = paths["/api/v1/admin/clients"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]
    assert "429" in paths["/api/v1/auth/token"]["post"]["responses"]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/appointments/services", "get"),
        ("/api/v1/appointments/availability", "get"),
        ("/api/v1/appointments/earliest", "get"),
        ("/api/v1/appointments/holds", "post"),
    ],
)
def test_rate_limited_calendar_operations_document_429_with_retry_after(
    document: dict[str, Any], path: str, method: str
) -> None:
    too_many = document["paths"][path][method]["responses"]["429"]

    assert "application/problem+json" in too_many["content"]
    assert too_many["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}


def test_if_match_is_required_where_its_absence_gets_428(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        if_match = [p for p in operation.get("parameters", []) if p["name"] == "If-Match"]
        if "428" in operation["responses"]:
            assert [p["required"] for p in if_match] == [True], f"{method} {path}"
        else:
            assert if_match == [], f"{method} {path}"


def test_idempotency_key_is_declared_only_where_it_is_honoured(
    document: dict[str, Any], app: FastAPI
) -> None:
    def idempotent_operations(doc: dict[str, Any]) -> list[str]:
        found = []
        for _, _, operation in operations(doc):
            names = {p["name"] for p in operation.get("parameters", [])}
            if "Idempotency-Key" in names:
                replayed = operation["responses"]
                assert any(
                    "Idempotent-Replayed" in r.get("headers", {})
                    for s, r in replayed.items()
                    if s.startswith("2")
                )
                found.append(operation["operationId"])
        return found

    assert sorted(idempotent_operations(document)) == [
        "appointments_confirm_hold",
        "appointments_create_hold",
        "appointments_draw_ticket",
        "appointments_join_waiting_list",
        "appointments_staff_book",
    ]
    install_probe_routes(app)
    app.openapi_schema = None
    assert "probe_create_branch" in idempotent_operations(app.openapi())
