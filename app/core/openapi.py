"""The OpenAPI document integrators build against (committed as openapi/openapi.json)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.problems import PROBLEM_MEDIA_TYPE

TAGS = [
    {
        "name": "identity",
        "description": "Sign-in with the online ID card (eID) and for staff, tokens and "
        "sessions, the citizen's own account, and integrator clients.",
    },
    {
        "name": "organisation",
        "description": "The city's departments and citizen-office branches.",
    },
    {
        "name": "operations",
        "description": "Liveness and readiness probes for the platform team.",
    },
]

DESCRIPTION = """\
Backend of the city's citizen services.

* Every error is `application/problem+json` (RFC 9457) with `type`, `title`, `status`,
  `detail`, `instance` and `request_id`; validation errors add `errors[]` with JSON pointers.
* Texts are German by default and English with `Accept-Language: en`.
* Send `Idempotency-Key` on POST to retry safely; edits need `If-Match` with the ETag.
* Lists use cursor pagination: pass `next_cursor` back as `cursor`; `limit` is at most 100.
"""


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=DESCRIPTION,
        routes=app.routes,
        tags=TAGS,
    )
    schema["info"]["license"] = {"name": "EUPL-1.2", "identifier": "EUPL-1.2"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            _problems_as_problem_json(operation)
    return schema


def _problems_as_problem_json(operation: dict[str, Any]) -> None:
    for status, response in operation.get("responses", {}).items():
        if not str(status).startswith(("4", "5")):
            continue
        content = response.get("content", {})
        if "application/json" in content:
            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
