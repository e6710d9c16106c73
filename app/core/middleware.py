"""Pure ASGI middleware: request id, language, access log, metrics, headers, body limit."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.docs import DOCS_CSP
from app.core.errors import PayloadTooLarge
from app.core.i18n import current_language, negotiate_language
from app.core.problems import PROBLEM_MEDIA_TYPE, problem_json_body

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_logger = structlog.get_logger("rathaus.access")

_API_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}
_HTML_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self' {origins}; frame-ancestors 'none'"
_DOCS_PATHS = ("/docs", "/redoc")


def route_template(scope: Scope) -> str:
    """The route's path template, never the raw path (which may hold ids or personal data)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


class RequestContextMiddleware:
    """Request id, language negotiation, security headers, access log and metrics."""

    def __init__(self, app: ASGIApp, *, hsts: bool, form_action_origins: str = "") -> None:
        self.app = app
        self.hsts = hsts
        self.html_csp = _HTML_CSP.format(origins=form_action_origins).replace("  ", " ")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = _request_id(headers.get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        language_token = current_language.set(negotiate_language(headers.get("accept-language")))
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        method = scope["method"]
        status_holder: dict[str, int] = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                self._decorate(scope, message, request_id)
            elif method == "HEAD" and message.get("body"):
                # The route answered HEAD as a GET; its headers stay, its body does not.
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            duration = time.perf_counter() - started
            template = route_template(scope)
            status = status_holder["status"]
            metrics.observe_request(method, template, status, duration)
            access_logger.info(
                "request",
                method=method,
                route=template,
                status=status,
                duration_ms=round(duration * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")
            current_language.reset(language_token)

    def _decorate(self, scope: Scope, message: Message, request_id: str) -> None:
        response_headers = MutableHeaders(scope=message)
        response_headers[REQUEST_ID_HEADER] = request_id
        path: str = scope["path"]
        content_type = response_headers.get("content-type", "")
        for name, value in _API_SECURITY_HEADERS.items():
            response_headers.setdefault(name, value)
        if path.startswith(_DOCS_PATHS):
            response_headers["content-security-policy"] = DOCS_CSP
        elif content_type.startswith("text/html"):
            response_headers["content-security-policy"] = self.html_csp
        if path.startswith("/api/") and "cache-control" not in response_headers:
            response_headers["cache-control"] = "no-store"
        if self.hsts:
            response_headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
        vary = response_headers.get("vary")
        if vary is None:
            response_headers["vary"] = "Accept-Language"
        elif "accept-language" not in vary.lower():
            response_headers["vary"] = vary + ", Accept-Language"


def _request_id(incoming: str | None) -> str:
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and _too_large(declared, self.max_bytes):
            await _send_too_large(scope, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise StarletteHTTPException(status_code=413)
            return message

        await self.app(scope, limited_receive, send)


def _too_large(declared: str, max_bytes: int) -> bool:
    try:
        return int(declared) > max_bytes
    except ValueError:
        return False


async def _send_too_large(scope: Scope, send: Send) -> None:
    state: dict[str, Any] = scope.get("state", {})
    body = problem_json_body(PayloadTooLarge(), str(state.get("request_id", "")), scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"content-language", current_language.get().value.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
