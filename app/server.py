"""The HTTP protocol `rathaus serve` runs uvicorn with: httptools, bounded before the app.

uvicorn bounds neither the size of a request's headers (with httptools) nor the time they
take to arrive: a connection that trickles header bytes, or sends none, is kept open for
ever, and a 50 MB header is read into memory. This protocol, passed as uvicorn's `http`
option, answers and closes such connections:

* headers larger than RATHAUS_MAX_HEADER_BYTES (request line included) get 431;
* headers not complete within RATHAUS_HEADER_TIMEOUT_SECONDS of the connection or of the
  request's first byte get 408. Idle keep-alive connections are closed by uvicorn's
  `timeout_keep_alive` as before.

Both answers are problem+json, in German (the request's Accept-Language is not read yet).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import get_settings
from app.core.errors import AppError, RequestHeaderFieldsTooLarge, RequestTimeout
from app.core.problems import PROBLEM_MEDIA_TYPE, problem_json_body

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def _refusal(error: AppError) -> bytes:
    body = problem_json_body(error, secrets.token_hex(16), "")
    head = (
        b"HTTP/1.1 %d %s\r\n" % (error.status, _REASONS[error.status])
        + b"content-type: "
        + PROBLEM_MEDIA_TYPE.encode()
        + b"\r\ncontent-language: de\r\nconnection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    return head + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on header size and header time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_header_bytes = settings.max_header_bytes
        self.header_timeout = settings.header_timeout_seconds
        # Bytes received since the current request began, while its headers are incomplete:
        # a bound on what httptools buffers (it joins a header's pieces before reporting it).
        self.header_bytes = 0
        self.reading_headers = True
        self.header_deadline: asyncio.TimerHandle | None = None
        self.refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.reading_headers:
            self.header_bytes += len(data)
        super().data_received(data)
        if self.reading_headers and self.header_bytes > self.max_header_bytes:
            self._refuse(RequestHeaderFieldsTooLarge())

    # After a refusal the parser may still report what it had read; none of it is served.
    def on_message_begin(self) -> None:
        if self.refused:
            return
        super().on_message_begin()
        self.reading_headers = True
        if self.header_deadline is None:
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        if self.refused:
            return
        self._disarm_header_deadline()
        self.reading_headers = False
        # The bytes counted may include the start of the body; only then count exactly.
        if (
            self.header_bytes > self.max_header_bytes
            and self._header_size() > self.max_header_bytes
        ):
            self._refuse(RequestHeaderFieldsTooLarge())
            return
        self.header_bytes = 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.refused:
            return
        super().on_message_complete()
        self.reading_headers = True

    def send_400_response(self, msg: str) -> None:
        if not self.refused:  # otherwise the parser only stopped because we refused
            super().send_400_response(msg)

    def _header_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _arm_header_deadline(self) -> None:
        self.header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _headers_too_slow(self) -> None:
        self.header_deadline = None
        if self.reading_headers:
            self._refuse(RequestTimeout())

    def _refuse(self, error: AppError) -> None:
        if self.refused or self.transport.is_closing():
            return
        self.refused = True
        self._disarm_header_deadline()
        self.transport.write(_refusal(error))
        self.transport.close()
