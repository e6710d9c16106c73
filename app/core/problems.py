"""Render every error, ours and the framework's, as RFC 9457 problem+json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from app.core.errors import (
    ERROR_FOR_STATUS,
    AppError,
    BadRequest,
    InternalError,
    MalformedBody,
    ServiceUnavailable,
    ValidationFailed,
)
from app.core.i18n import Language, current_language
from app.core.logging import safe_frames
from app.core.validation_texts import translate_validation_error

PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = structlog.get_logger("rathaus.errors")


class FieldError(BaseModel):
    pointer: str = Field(
        description="JSON Pointer (RFC 6901) to the bad member of the request body, "
        "as a URI fragment, e.g. `#/contact/email`. For query, path and header "
        "parameters: `#/{in}/{name}`, e.g. `#/query/limit`.",
        examples=["#/email"],
    )
    detail: str = Field(description="What is wrong with this field, in the negotiated language.")


class Problem(BaseModel):
    """RFC 9457 problem details. Extension members may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://rathaus.example/problems/not-found"])
    title: str
    status: int
    detail: str
    instance: str = Field(description="The request path that produced the problem.")
    request_id: str = Field(description="Quote this id when contacting support.")


class ValidationProblem(Problem):
    errors: list[FieldError]


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def problem_response(
    request: Request,
    error: AppError,
    *,
    errors: Sequence[dict[str, str]] | None = None,
) -> JSONResponse:
    language: Language = current_language.get()
    body: dict[str, Any] = {
        "type": error.type_uri(),
        "title": error.title.get(language),
        "status": error.status,
        "detail": error.detail.get(language),
        "instance": request.url.path,
        "request_id": _request_id(request),
    }
    body.update(error.extensions)
    if errors is not None:
        body["errors"] = list(errors)
    headers = dict(error.headers)
    headers["Content-Language"] = language.value
    return JSONResponse(
        body, status_code=error.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


async def handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status >= 500:
        logger.error("request.failed", error_type=type(exc).__name__, status=exc.status)
    return problem_response(request, exc)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_class = ERROR_FOR_STATUS.get(exc.status_code)
    if error_class is None:
        error_class = BadRequest if exc.status_code < 500 else InternalError
    error = error_class.__new__(error_class)
    AppError.__init__(error, headers=dict(exc.headers or {}))
    if exc.status_code == 405:
        error.headers["Allow"] = ", ".join(
            _allowed_methods(request.app.router.routes, request.scope)
        )
    return problem_response(request, error)


def _allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route answers at this path (not only the first route's), and HEAD
    wherever GET is answered."""
    methods: set[str] = set()
    for route in iter_route_contexts(routes):
        match, _ = route.matches({**scope, "method": "GET"})
        if match is not Match.NONE:
            methods.update(route.methods or ())
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def pointer_token(name: object) -> str:
    """One reference token of a JSON Pointer (RFC 6901 §3): `~` and `/` escaped."""
    return str(name).replace("~", "~0").replace("/", "~1")


def _pointer(loc: Sequence[int | str]) -> str:
    if not loc:
        return "#"
    where, *path = loc
    escaped = [pointer_token(p) for p in path]
    if where == "body":
        return "#/" + "/".join(escaped) if escaped else "#"
    return "#/" + "/".join([str(where), *escaped])


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in raw):
        return problem_response(request, MalformedBody())
    language = current_language.get()
    errors = [
        {
            "pointer": _pointer(err.get("loc", ())),
            "detail": translate_validation_error(err, language),
        }
        for err in raw
    ]
    return problem_response(request, ValidationFailed(), errors=errors)


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    if _database_unavailable(exc):
        logger.error("request.database_unavailable", error_type=type(exc).__name__)
        return problem_response(request, ServiceUnavailable())
    logger.error("request.unhandled", error_type=type(exc).__name__, frames=safe_frames(exc))
    return problem_response(request, InternalError())


# SQLSTATE classes of a database that cannot take the request now: connection exceptions
# (08), insufficient resources such as too many connections (53), and a server shutting down
# or starting (57P01-57P03).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


def _database_unavailable(exc: Exception) -> bool:
    """Connection-level failures are temporary: 503 with Retry-After, not a 500."""
    if isinstance(exc, ConnectionError | PoolTimeout | OperationalError | InterfaceError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
        getattr(exc.orig, "__cause__", None), "sqlstate", None
    )
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(Exception, handle_unexpected)


def problem_json_body(error: AppError, request_id: str, instance: str) -> bytes:
    """Problem body for code that runs outside FastAPI's handlers (pure ASGI middleware)."""
    language = current_language.get()
    return json.dumps(
        {
            "type": error.type_uri(),
            "title": error.title.get(language),
            "status": error.status,
            "detail": error.detail.get(language),
            "instance": instance,
            "request_id": request_id,
        }
    ).encode()
