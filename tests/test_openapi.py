"""The committed OpenAPI document is the contract integrators build against."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from app.cli import OPENAPI_PATH, render_openapi

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
            schema = response["content"]["application/json"]["schema"]
            assert schema, f"{method} {path} {status} has no schema"


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
