"""Pure ASGI middleware: client address, request id, language, access log, metrics, headers,
body limit."""

from __future__ import annotations

import ipaddress
import re
import secrets
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.docs import DOCS_CSP
from app.core.errors import PayloadTooLarge
from app.core.i18n import current_language, negotiate_language
from app.core.logging import access_log_writer
from app.core.problems import PROBLEM_MEDIA_TYPE, problem_json_body

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


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
# Texts follow Accept-Language; CORS headers follow Origin (see `CorsWhenAsked`).
_VARY_BY = (b"Accept-Language", b"Origin")
_VARY = b", ".join(_VARY_BY)
_DOCS_CSP = DOCS_CSP.encode()


def route_template(scope: Scope) -> str:
    """The route's path template, never the raw path (which may hold ids or personal data)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


class RequestContextMiddleware:
    """Request id, language negotiation, security headers, access log and metrics.

    It runs for every request, so it works on the raw ASGI header lists and builds what it
    can once, here, rather than per request.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool, form_action_origins: str = "") -> None:
        self.app = app
        html_csp = _HTML_CSP.format(origins=form_action_origins).replace("  ", " ")
        self.html_csp = html_csp.encode()
        static = dict(_API_SECURITY_HEADERS)
        if hsts:
            static["strict-transport-security"] = "max-age=31536000; includeSubDomains"
        self._static_headers = [(name.encode(), value.encode()) for name, value in static.items()]
        self._access_log = access_log_writer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, accept_language = _request_headers(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id
        language_token = current_language.set(negotiate_language(accept_language))
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        method = scope["method"]
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = self._decorate(scope, message, request_id)
            elif method == "HEAD" and message.get("body"):
                # The route answered HEAD as a GET; its headers stay, its body does not.
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            duration = time.perf_counter() - started
            template = route_template(scope)
            metrics.observe_request(method, template, status, duration)
            self._access_log(method, template, status, duration, request_id)
            structlog.contextvars.unbind_contextvars("request_id")
            current_language.reset(language_token)

    def _decorate(self, scope: Scope, message: Message, request_id: str) -> list[Any]:
        """The response's headers plus ours; headers the route set itself win."""
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
        present = {name.lower(): value for name, value in headers}
        headers.append((b"x-request-id", request_id.encode()))
        headers.extend(item for item in self._static_headers if item[0] not in present)
        path: str = scope["path"]
        csp: bytes | None = None
        if path.startswith(_DOCS_PATHS):
            csp = _DOCS_CSP
        elif present.get(b"content-type", b"").startswith(b"text/html"):
            csp = self.html_csp
        if csp is not None:
            headers = [h for h in headers if h[0] != b"content-security-policy"]
            headers.append((b"content-security-policy", csp))
        if path.startswith("/api/") and b"cache-control" not in present:
            headers.append((b"cache-control", b"no-store"))
        vary = present.get(b"vary")
        if vary is None:
            headers.append((b"vary", _VARY))
        else:
            missing = [v for v in _VARY_BY if v.lower() not in vary.lower()]
            if missing:
                headers = [h for h in headers if h[0].lower() != b"vary"]
                headers.append((b"vary", b", ".join([vary, *missing])))
        return headers


def _request_headers(raw: list[tuple[bytes, bytes]]) -> tuple[str, str | None]:
    """The request id to use and the Accept-Language header, in one pass over the headers."""
    incoming: str | None = None
    accept_language: str | None = None
    for name, value in raw:
        lowered = name.lower()
        if lowered == b"x-request-id":
            incoming = value.decode("latin-1")
        elif lowered == b"accept-language":
            accept_language = value.decode("latin-1")
    return _request_id(incoming), accept_language


def _request_id(incoming: str | None) -> str:
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return secrets.token_hex(16)


class CorsWhenAsked:
    """Starlette's CORS middleware, for the requests that are cross-origin at all.

    A request without `Origin` (server-to-server calls, same-origin pages, health checks)
    goes straight on; `RequestContextMiddleware` adds the `Vary: Origin` that the CORS
    middleware would have added to it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allow_origins: Sequence[str],
        allow_methods: Sequence[str],
        allow_headers: Sequence[str],
        expose_headers: Sequence[str],
        max_age: int,
    ) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            expose_headers=expose_headers,
            max_age=max_age,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(
            name.lower() == b"origin" for name, _ in scope["headers"]
        ):
            await self.app(scope, receive, send)
            return
        await self.cors(scope, receive, send)


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            lowered = name.lower()
            if lowered == b"content-length":
                declared = value
            elif lowered == b"transfer-encoding":
                chunked = True
        if declared is not None and _too_large(declared.decode("latin-1"), self.max_bytes):
            await _send_too_large(scope, send)
            return
        if not chunked:
            # No body, or exactly the declared length: the server delivers no more than that.
            await self.app(scope, receive, send)
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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxyMiddleware:
    """The one place that decides a request's client address, for rate limits, logs and the
    metrics allow-list: the direct peer, unless that peer is a trusted proxy
    (`RATHAUS_TRUSTED_PROXIES`), in which case `X-Forwarded-For` says who came before it.

    The server's own proxy handling is off (`rathaus serve` passes `proxy_headers=False`):
    uvicorn's trusts loopback by default, so any sender on the same machine, or behind a local
    proxy, could pick a new address with every request. Installed only when proxies are
    configured; without it the peer is the client.
    """

    def __init__(self, app: ASGIApp, *, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)
        self.is_trusted = lru_cache(maxsize=1024)(self._is_trusted)

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and self.is_trusted(client[0]):
            forwarded_for: list[bytes] = []
            proto: bytes | None = None
            for name, value in scope["headers"]:
                lowered = name.lower()
                if lowered == b"x-forwarded-for":
                    forwarded_for.append(value)
                elif lowered == b"x-forwarded-proto":
                    proto = value
            if forwarded_for:
                hops = b",".join(forwarded_for).decode("latin-1").split(",")
                scope["client"] = (self._client(client[0], hops), 0)
            if proto is not None:
                scheme = proto.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
                if scheme in ("http", "https"):
                    scope["scheme"] = scheme
        await self.app(scope, receive, send)

    def _client(self, peer: str, hops: list[str]) -> str:
        """The nearest hop that is not a trusted proxy, from the right: each trusted proxy
        appended the address it saw, and anything left of an untrusted one may be forged."""
        reporter = peer
        for hop in reversed(hops):
            candidate = hop.strip()
            if not self.is_trusted(candidate):
                return candidate if _is_address(candidate) else reporter
            reporter = candidate
        return reporter


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
