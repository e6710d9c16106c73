"""Structured JSON logs. Only ids, route templates, statuses and durations: no personal data."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from json import dumps as json_dumps

import structlog


class StderrLogger:
    """Writes each line to whatever `sys.stderr` is at that moment, so that a logger bound
    once (the access log's) still follows a redirected stderr (test capture, daemons)."""

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*_args: object) -> StderrLogger:
    return StderrLogger()


AccessLogWriter = Callable[[str, str, int, float, str], None]

_access: dict[str, object] = {"level": logging.INFO, "json": True}

# Libraries that log statements, their parameters or result rows (SQLAlchemy rows at DEBUG,
# aiosqlite each call with its arguments): names, dates of birth, pseudonyms and PKCE
# verifiers; httpx every URL it requests, with its query. They log warnings only, whatever
# the level; `hide_parameters` keeps statement parameters out of SQLAlchemy's errors as well.
_QUIET_LIBRARIES = (
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "aiosmtplib",
    "httpx",
    "httpcore",
    "multipart",
)


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    _access.update(level=logging.getLevelName(level.upper()), json=json)
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    logging.getLogger("uvicorn.access").disabled = True
    for library in _QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(max(logging.WARNING, _level_number(level)))
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _level_number(level: str) -> int:
    number = logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO


def safe_frames(exc: BaseException) -> list[str]:
    """Where it failed, without the exception's text, which may carry personal data or SQL."""
    return [
        f"{frame.filename}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
    ][-12:]


def access_log_writer() -> AccessLogWriter:
    """The access log: one line per request with method, route template, status, duration
    and request id, as of the logging configured now.

    It runs for every request, so in JSON it writes the line itself, in the same shape as
    every other log line (structlog's renderer cost about a sixth of a minimal request).
    """
    if int(str(_access["level"])) > logging.INFO:
        return _no_access_log
    if not _access["json"]:
        return _access_log_through_structlog
    return _access_log_as_json


def _no_access_log(method: str, route: str, status: int, seconds: float, request_id: str) -> None:
    return None


def _access_log_as_json(
    method: str, route: str, status: int, seconds: float, request_id: str
) -> None:
    line = json_dumps(
        {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "event": "request",
            "request_id": request_id,
            "level": "info",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
    )
    stream = sys.stderr
    stream.write(line + "\n")
    stream.flush()


def _access_log_through_structlog(
    method: str, route: str, status: int, seconds: float, request_id: str
) -> None:
    structlog.get_logger("rathaus.access").info(
        "request", method=method, route=route, status=status, duration_ms=round(seconds * 1000, 2)
    )
