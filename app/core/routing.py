"""The route class every API router uses, and OpenAPI helpers for operation ids and problems.

`RathausRoute` wraps each endpoint in its unit of work, refuses non-JSON bodies with 415, and
turns any unexpected exception into a 500 problem that reveals nothing about the cause.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextvars import Token
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response, params
from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant, get_flat_params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from app.core.audit import Actor, current_actor
from app.core.auth import Access, OptionalAccess
from app.core.errors import (
    AppError,
    BadRequest,
    InternalError,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from app.core.i18n import Text
from app.core.problems import Problem, ValidationProblem, handle_unexpected, pointer_token
from app.core.text_input import BodyKind, unsafe_text_errors
from app.core.uow import (
    UnitOfWork,
    get_read_connection,
    get_read_session,
    get_read_unit,
    get_session,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIX = "/api/v1"

logger = structlog.get_logger("rathaus.routing")


class ReplayResponse(Exception):
    """Raised by a dependency that already knows the response (an idempotent replay)."""

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__("replay")


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _is_form(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in ("application/x-www-form-urlencoded", "multipart/form-data")


FORM_EXPECTED = Text(
    de="Der Anfragetext muss als application/x-www-form-urlencoded gesendet werden.",
    en="The request body must be sent as application/x-www-form-urlencoded.",
)


class RathausRoute(APIRoute):
    """Runs each endpoint in this order: who is calling (401, 403), what they sent (415, 422),
    then the endpoint in its unit of work: read-only unless the route asks for the writing
    session (`WriteSession`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        access = find_access(get_dependant(path=path, call=endpoint))
        declared = [
            *(access.problems if access is not None else ()),
            *_declared_problems(kwargs.get("dependencies") or ()),
        ]
        if declared:
            kwargs["responses"] = merge_responses(
                problem_responses(*declared), kwargs.get("responses") or {}
            )
        super().__init__(path, endpoint, **kwargs)

    # Every GET also answers HEAD (RFC 9110 §9.3.2): matched and run exactly as the GET, and
    # the request middleware sends the headers without the body.
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if _is_head_of_get(scope, self.methods):
            return super().matches({**scope, "method": "GET"})
        return super().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_head_of_get(scope, self.methods):
            scope["method"] = "GET"
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint_handler = super().get_route_handler()
        expects_json = self._expects_json_body()
        body_kind: BodyKind = "json" if expects_json else "form"
        access = find_access(self.dependant)
        writes = _depends_on(self.dependant, get_session)
        uses_database = writes or any(
            _depends_on(self.dependant, call)
            for call in (get_read_session, get_read_connection, get_read_unit)
        )
        known_query = (
            None
            if _depends_on(self.dependant, accepts_any_query)
            else frozenset(p.alias for p in get_flat_params(self.dependant) if _in_query(p))
        )

        async def checked_endpoint(request: Request) -> Response:
            has_body = self.body_field is not None and request.method not in SAFE_METHODS
            if has_body:
                _require_content_type(request, json=expects_json)
            if has_body or scope_has_parameters(request.scope):
                errors = _unknown_query_errors(request, known_query)
                errors += await unsafe_text_errors(request, body=body_kind if has_body else None)
                if errors:
                    raise ValidationFailed(extensions={"errors": errors})
            return await endpoint_handler(request)

        async def handler(request: Request) -> Response:
            if access is None and not uses_database:
                # Nothing to authenticate, nothing to commit: health probes, public lists
                # computed without the database.
                try:
                    return await checked_endpoint(request)
                except (AppError, StarletteHTTPException, RequestValidationError):
                    raise
                except Exception as exc:
                    return await handle_unexpected(request, exc)
            uow = UnitOfWork(request.app.state.database, read_only=not writes)
            request.state.uow = uow
            actor_token: Token[Actor] | None = None

            async def authorised_endpoint(request: Request) -> Response:
                nonlocal actor_token
                if access is not None:
                    principal = await access.check(request)
                    if principal is not None:
                        actor_token = current_actor.set(principal.actor)
                return await checked_endpoint(request)

            try:
                return await _run_in_unit_of_work(authorised_endpoint, request, uow)
            finally:
                if actor_token is not None:
                    current_actor.reset(actor_token)
                await uow.close()

        return handler

    def _expects_json_body(self) -> bool:
        if self.body_field is None:
            return False
        from fastapi.params import Form

        return not isinstance(getattr(self.body_field, "field_info", None), Form)


def _is_head_of_get(scope: Scope, methods: set[str] | None) -> bool:
    return scope.get("method") == "HEAD" and "GET" in (methods or ())


def scope_has_parameters(scope: Scope) -> bool:
    """Whether the request carries a query string or path parameters to check at all."""
    return bool(scope.get("query_string") or scope.get("path_params"))


def accepts_any_query() -> None:
    """A route that depends on this reads query parameters it cannot list, e.g. an identity
    provider's callback (`state`, `code`, `iss`, `session_state`, …)."""


def _in_query(field: ModelField) -> bool:
    return isinstance(field.field_info, params.Query)


UNKNOWN_PARAMETER = Text(
    de="Diesen Parameter gibt es hier nicht.", en="This parameter does not exist here."
)


def _unknown_query_errors(request: Request, known: frozenset[str] | None) -> list[dict[str, str]]:
    """A query parameter the route does not declare is refused, so a typo (`?limt=5`) is
    noticed instead of silently ignored."""
    if known is None:
        return []
    detail = UNKNOWN_PARAMETER.get()
    return [
        {"pointer": f"#/query/{pointer_token(name)}", "detail": detail}
        for name in dict.fromkeys(request.query_params)
        if name not in known
    ]


def find_access(dependant: Dependant) -> Access | OptionalAccess | None:
    """The route's access declaration (`Staff`, `Citizen`, …), wherever it sits in its
    dependencies."""
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Access | OptionalAccess):
            return dependency.call
        found = find_access(dependency)
        if found is not None:
            return found
    return None


def _declared_problems(dependencies: Iterable[params.Depends]) -> list[type[AppError]]:
    """The problems a route's own dependencies declare they can answer with (a rate limit's
    429), for its OpenAPI entry."""
    return [
        problem
        for dependency in dependencies
        for problem in getattr(dependency.dependency, "problems", ())
    ]


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(
        dependency.call is call or _depends_on(dependency, call)
        for dependency in dependant.dependencies
    )


async def _run_in_unit_of_work(
    endpoint_handler: Callable[[Request], Awaitable[Response]],
    request: Request,
    uow: UnitOfWork,
) -> Response:
    try:
        response = await endpoint_handler(request)
    except ReplayResponse as replay:
        await uow.rollback()
        return replay.response
    except AppError as error:
        if error.keeps_changes:
            await uow.commit_refusal()
        else:
            await uow.rollback()
        raise
    except (StarletteHTTPException, RequestValidationError):
        await uow.rollback()
        raise
    except Exception as exc:
        await uow.rollback()
        return await handle_unexpected(request, exc)
    if response.status_code >= 400:
        await uow.rollback()
        return response
    await uow.commit(response)
    return response


def _require_content_type(request: Request, *, json: bool) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        if (
            request.headers.get("content-length", "0") == "0"
            and "transfer-encoding" not in request.headers
        ):
            return
        raise UnsupportedMediaType()
    if json and not _is_json(content_type):
        raise UnsupportedMediaType()
    if not json and not _is_form(content_type):
        raise UnsupportedMediaType(FORM_EXPECTED)


def operation_id(route: APIRoute) -> str:
    """Stable ids of the form `tag_name`, e.g. `appointments_book`."""
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}_{route.name}"


def problem_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problems an endpoint can answer with.

    `app.core.openapi` moves their schema to the `application/problem+json` media type.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        model = ValidationProblem if issubclass(error, ValidationFailed) else Problem
        entry = responses.setdefault(error.status, {"model": model, "description": error.title.en})
        if error.title.en not in entry["description"]:
            entry["description"] += f"; {error.title.en}"
    return responses


def merge_responses(
    *entries: dict[int | str, dict[str, Any]],
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` of several sources; descriptions of one status are joined."""
    merged: dict[int | str, dict[str, Any]] = {}
    for responses in entries:
        for status, response in responses.items():
            existing = merged.get(status)
            if existing is None:
                merged[status] = dict(response)
                continue
            for part in str(response.get("description", "")).split("; "):
                if part and part not in existing.get("description", "").split("; "):
                    existing["description"] = f"{existing['description']}; {part}"
            for key, value in response.items():
                existing.setdefault(key, value)
    return merged


COMMON_PROBLEMS: tuple[type[AppError], ...] = (
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    InternalError,
    ServiceUnavailable,
)


def api_router(
    tag: str, *, prefix: str = API_PREFIX, errors: Iterable[type[AppError]] = ()
) -> APIRouter:
    """A router for one domain: its tag, our route class and the problems every route can give.

    The full prefix is set here, not at inclusion, so that route templates in logs and
    metrics are the paths clients call.
    """
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        route_class=RathausRoute,
        responses=problem_responses(*COMMON_PROBLEMS, *errors),
    )
