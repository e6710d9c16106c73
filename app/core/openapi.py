"""The OpenAPI document integrators build against (committed as openapi/openapi.json).

FastAPI generates it from the routes; this module adds what FastAPI cannot know: each
operation's security from its access declaration, the response headers every answer or
problem carries, problems as `application/problem+json`, and `If-Match` as required where a
missing one is refused with 428.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from app.core.auth import Access, OptionalAccess
from app.core.principal import ClientScope, PrincipalType
from app.core.problems import PROBLEM_MEDIA_TYPE
from app.core.routing import find_access
from app.core.text_input import SAFE_TEXT_PATTERN

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
        "name": "appointments",
        "description": "One appointment calendar for all citizen-office branches: bookable "
        "services, live availability and holds on a free start.",
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
* Authentication and authorisation come first: a request without a valid token gets 401, and
  one from the wrong kind of caller 403, before its input is looked at.
* Edits need `If-Match` with the ETag of the last read (428 without it, 412 when outdated).
* Lists use cursor pagination: pass `next_cursor` back as `cursor`; `limit` is at most 100.
* Every `GET` also answers `HEAD`. Every response carries `X-Request-ID`; quote it to support.
* Operations that document 429 are rate-limited per client address (public calendar reads
  and holds, sign-in): wait the `Retry-After` seconds before trying again.
* Before any operation, the server answers request headers larger than 32 KiB with 431 and
  headers that take longer than 10 seconds to arrive with 408 (problem+json, in German), and
  closes the connection; the operator may set other bounds.
"""

CLIENT_SCOPE_DESCRIPTIONS = {
    ClientScope.departments_read: "Read the departments.",
    ClientScope.branches_read: "Read the citizen-office branches.",
    ClientScope.applications_read: "Read applications of the client's departments.",
    ClientScope.applications_export: "Export applications to a back-office system.",
    ClientScope.payments_reconcile: "Reconcile payments with the city's cash office.",
    ClientScope.appointments_read: "Read appointments of the client's branches.",
    ClientScope.appointments_tickets: "Draw walk-in tickets at the branches' ticket points "
    "(a kiosk client).",
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the one sent, if it was usable, or a new one.",
        "schema": {"type": "string", "maxLength": 128},
    },
    "ETag": {
        "description": "The version of what was read: send it as `If-Match` to edit the "
        "resource, or as `If-None-Match` to get 304 while the answer is unchanged.",
        "schema": {"type": "string", "examples": ['"v3"']},
    },
    "Cache-Control": {
        "description": "How many seconds a client or cache may reuse the answer (`max-age`).",
        "schema": {"type": "string", "examples": ["public, max-age=5"]},
    },
    "Vary": {
        "description": "The request headers the answer depends on besides the URL: "
        "`Accept-Encoding` where the answer may be compressed.",
        "schema": {"type": "string", "examples": ["Accept-Encoding"]},
    },
    "Content-Encoding": {
        "description": "`gzip` when the body is compressed, as the request's "
        "`Accept-Encoding` allowed; absent otherwise.",
        "schema": {"type": "string", "enum": ["gzip"]},
    },
    "Location": {
        "description": "Where the created resource can be read.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {
        "description": "The authentication challenge (RFC 6750); on 403 for a too low level "
        "of assurance, `insufficient_user_authentication` with the `acr_values` needed.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response to an earlier request with "
        "the same `Idempotency-Key`, not a new effect.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Content-Language": {
        "description": "The language of `title` and `detail`: `de` or `en`.",
        "schema": {"type": "string", "enum": ["de", "en"]},
    },
}


def header_refs(*names: str) -> dict[str, dict[str, str]]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def response_headers(status: int, *names: str) -> dict[int | str, dict[str, Any]]:
    """A route's `responses` entry declaring headers of its success, e.g. `ETag`."""
    return {status: {"headers": header_refs(*names)}}


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
    components = schema.setdefault("components", {})
    components["headers"] = HEADERS
    components.setdefault("securitySchemes", {})["oauth2"] = {
        "type": "oauth2",
        "description": "Integrators' clients: client credentials at `POST /api/v1/auth/token`.",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/api/v1/auth/token",
                "scopes": {s.value: text for s, text in CLIENT_SCOPE_DESCRIPTIONS.items()},
            }
        },
    }
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        path_item = schema["paths"][context.path_format]
        for method in sorted(route.methods or ()):
            operation = path_item[method.lower()]
            operation["security"] = _security(find_access(route.dependant))
            _declare_headers(operation)
            _require_if_match(operation)
            _parameters_without_null(operation)
            _body_examples(operation, components.get("schemas", {}))
            _text_without_control_characters(operation.get("parameters", []))
    for name in _request_body_schemas(schema):
        _text_without_control_characters(components["schemas"][name])
    return schema


def _security(access: Access | OptionalAccess | None) -> list[dict[str, list[str]]]:
    """Public operations say so (`[]`); others name the scheme their callers use, and
    operations open to anonymous callers too add the empty requirement (`{}`)."""
    if access is None:
        return []
    if isinstance(access, OptionalAccess):
        return [{}, *_security(access.access)]
    requirements: list[dict[str, list[str]]] = []
    if access.types - {PrincipalType.client}:
        requirements.append({"bearer": []})
    if PrincipalType.client in access.types:
        requirements.append({"oauth2": [access.scope.value] if access.scope else []})
    return requirements


def _declare_headers(operation: dict[str, Any]) -> None:
    idempotent = any(
        p.get("in") == "header" and p.get("name") == "Idempotency-Key"
        for p in operation.get("parameters", [])
    )
    for status, response in operation.get("responses", {}).items():
        headers = response.setdefault("headers", {})
        headers.update(header_refs("X-Request-ID"))
        if idempotent and str(status).startswith("2"):
            headers.update(header_refs("Idempotent-Replayed"))
        if not str(status).startswith(("4", "5")):
            continue
        content = response.get("content", {})
        if "application/json" in content:
            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        headers.update(header_refs("Content-Language"))
        if status in ("401", "403"):
            headers.update(header_refs("WWW-Authenticate"))
        if status in ("429", "503"):
            headers.update(header_refs("Retry-After"))


def _require_if_match(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name") == "If-Match":
            parameter["required"] = True


def _body_examples(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """The request body's examples where client generators and Swagger UI look for them."""
    for media in operation.get("requestBody", {}).get("content", {}).values():
        name = str(media.get("schema", {}).get("$ref", "")).rpartition("/")[2]
        examples = schemas.get(name, {}).get("examples")
        if examples:
            media["examples"] = {
                f"example-{number}": {"value": value}
                for number, value in enumerate(examples, start=1)
            }


def _request_body_schemas(schema: dict[str, Any]) -> set[str]:
    """The component schemas a request body can contain, directly or nested."""
    found: set[str] = set()
    pending = [
        media.get("schema", {})
        for item in schema["paths"].values()
        for operation in item.values()
        for media in operation.get("requestBody", {}).get("content", {}).values()
    ]
    components = schema["components"]["schemas"]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            name = str(node.get("$ref", "")).rpartition("/")[2]
            if name and name not in found:
                found.add(name)
                pending.append(components[name])
            pending.extend(node.values())
    return found


def _text_without_control_characters(node: Any) -> None:
    """Every free-text string a client sends says what the server enforces for all input
    (`app.core.text_input`): no control characters but tab and line breaks. Responses are
    left alone: a problem may quote the offending input."""
    if isinstance(node, list):
        for item in node:
            _text_without_control_characters(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "string" and not {"enum", "const", "pattern", "format"} & set(node):
        node["pattern"] = SAFE_TEXT_PATTERN
    for value in node.values():
        _text_without_control_characters(value)


def _parameters_without_null(operation: dict[str, Any]) -> None:
    """A query, path or header parameter is left out rather than sent as null: `str | None`
    in the code is just `string` on the wire."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        variants = schema.get("anyOf", [])
        if len(variants) == 2 and {"type": "null"} in variants:
            (kept,) = [v for v in variants if v != {"type": "null"}]
            del schema["anyOf"]
            schema.update(kept)
