"""Application factory: middleware, routers, problem handlers, health and metrics."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from app.appointments.blocks_router import router as blocks_router
from app.appointments.display_router import pages as display_pages
from app.appointments.display_router import router as display_router
from app.appointments.offer_pages import offer_pages
from app.appointments.pages import pages as appointment_pages
from app.appointments.queue_router import router as appointments_queue_router
from app.appointments.router import router as appointments_router
from app.appointments.staff_bookings_router import router as appointments_staff_bookings_router
from app.appointments.staff_router import router as appointments_staff_router
from app.appointments.statistics_router import router as appointments_statistics_router
from app.appointments.waiting_list_router import router as waiting_list_router
from app.core import metrics
from app.core.config import Environment, Settings, get_settings, refuse_unsafe
from app.core.db import Database, create_engine
from app.core.docs import install_docs
from app.core.errors import NotFound, ServiceUnavailable
from app.core.i18n import Text
from app.core.jobs.worker import Worker
from app.core.limiter import Limiter
from app.core.logging import configure_logging
from app.core.middleware import (
    BodySizeLimitMiddleware,
    CorsWhenAsked,
    RequestContextMiddleware,
    TrustedProxyMiddleware,
)
from app.core.migrations import current_revisions, head_revisions
from app.core.openapi import build_openapi
from app.core.problems import install_problem_handlers
from app.core.routing import api_router, problem_responses
from app.identity.authenticator import TokenAuthenticator
from app.identity.context import IdentityContext
from app.identity.jwt import load_signing_key
from app.identity.registry import build_registry as build_provider_registry
from app.identity.router import routers as identity_routers
from app.organisation.router import router as organisation_router
from app.startup import production_problems
from app.tasks import build_registry


class HealthRead(BaseModel):
    status: str


class ReadinessRead(BaseModel):
    status: str
    database: str
    migrations: str


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    refuse_unsafe(production_problems(settings))
    configure_logging(settings.log_level, json=settings.log_json)
    database = database or Database(create_engine(settings))
    limiter = Limiter(
        redis_url=settings.redis_url,
        key_prefix=settings.redis_key_prefix,
        key_secret=settings.secret_key,
        enabled=settings.anti_automation,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker_task: asyncio.Task[None] | None = None
        stop = asyncio.Event()
        if settings.runs_worker_in_process:
            worker = Worker(database, settings, build_registry())
            worker_task = asyncio.create_task(worker.run(stop))
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                # Jobs still running after this keep their lease and are retried elsewhere.
                with suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(worker_task, timeout=settings.job_lease_seconds)
            await database.dispose()
            await limiter.close()

    app = FastAPI(
        title="Digitales Rathaus API",
        version="1.0.0",
        summary="Online applications, ePayment, appointments and eID sign-in for citizens, "
        "clerks and integrators.",
        lifespan=lifespan,
        debug=settings.debug,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.limiter = limiter
    app.state.identity = IdentityContext(
        settings=settings,
        registry=build_provider_registry(settings),
        signing_key=load_signing_key(settings),
        database=database,
    )
    app.state.authenticator = TokenAuthenticator()

    install_problem_handlers(app)
    install_docs(app)
    # Probes first: they are matched on every health check, before all API routes; then the
    # public calendar, the most requested API (routes are matched one by one, in order).
    app.include_router(_operations_router())
    app.include_router(appointments_router)
    for router in identity_routers:
        app.include_router(router)
    app.include_router(organisation_router)
    app.include_router(appointments_staff_router)
    app.include_router(appointments_statistics_router)
    app.include_router(appointments_queue_router)
    app.include_router(appointments_staff_bookings_router)
    app.include_router(waiting_list_router)
    app.include_router(blocks_router)
    app.include_router(appointment_pages)
    app.include_router(display_router)
    app.include_router(display_pages)
    app.include_router(offer_pages)
    app.add_api_route("/metrics", _metrics, methods=["GET", "HEAD"], include_in_schema=False)

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CorsWhenAsked,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "If-Match",
            "X-Request-ID",
            "Accept-Language",
        ],
        expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID", "Idempotent-Replayed"],
        max_age=600,
    )
    app.add_middleware(
        RequestContextMiddleware,
        hsts=settings.env == Environment.production,
        form_action_origins=_origins(
            [*settings.auth_return_to_allowlist, settings.public_base_url]
        ),
    )
    if settings.trusted_proxies:
        app.add_middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _origins(urls: list[str]) -> str:
    """Origins the sign-in pages may send the browser back to (CSP form-action)."""
    origins = {f"{u.scheme}://{u.netloc}" for u in map(urlsplit, urls) if u.scheme and u.netloc}
    return " ".join(sorted(origins))


def _operation_id(route: Any) -> str:
    from app.core.routing import operation_id

    return operation_id(route)


def _operations_router() -> Any:
    router = api_router("operations", prefix="")

    @router.get(
        "/healthz",
        response_model=HealthRead,
        summary="Liveness: the process answers",
        description="Answers without touching the database: for the orchestrator's liveness "
        "probe. Use `/readyz` to decide whether to send traffic.",
    )
    async def healthz() -> HealthRead:
        return HealthRead(status="ok")

    @router.get(
        "/readyz",
        response_model=ReadinessRead,
        summary="Readiness: database reachable and migrations at head",
        description="503 with `Retry-After` while the database is unreachable or its schema "
        "is behind the code (a deployment whose migrations have not run yet).",
        responses=problem_responses(ServiceUnavailable),
    )
    async def readyz(request: Request) -> ReadinessRead:
        database: Database = request.app.state.database
        try:
            current = await current_revisions(database.read_engine)
        except Exception as exc:
            raise ServiceUnavailable(
                Text(de="Die Datenbank ist nicht erreichbar.", en="The database is unreachable.")
            ) from exc
        if current != head_revisions():
            raise ServiceUnavailable(
                Text(
                    de="Die Datenbank ist nicht auf dem neuesten Migrationsstand.",
                    en="The database schema is not at the latest migration.",
                )
            )
        return ReadinessRead(status="ready", database="ok", migrations="head")

    return router


async def _metrics(request: Request) -> Response:
    if not _may_read_metrics(request, request.app.state.settings):
        raise NotFound()
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)


def _may_read_metrics(request: Request, settings: Settings) -> bool:
    """Only for the scraper's networks (`RATHAUS_METRICS_ALLOWED_NETWORKS`), never for the
    internet. A request that a proxy forwarded, with no trusted proxies configured, comes from
    behind that proxy, whatever its peer address: a local reverse proxy must not open it."""
    if not settings.trusted_proxies and (
        "x-forwarded-for" in request.headers or "forwarded" in request.headers
    ):
        return False
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    return any(address in network for network in settings.metrics_allowed_networks)
