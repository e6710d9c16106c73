"""How the bench runs the `rathaus` command: from the project root, on the bench database."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class BenchError(Exception):
    """The benchmark cannot measure what it set out to; the message says why."""


def rathaus_command(*arguments: str) -> list[str]:
    """`rathaus ...` with this interpreter, so the bench does not depend on PATH."""
    return [sys.executable, "-m", "app.cli", *arguments]


def rathaus_environment(database_url: str) -> dict[str, str]:
    """The caller's environment, pointed at the bench database, without the in-process worker
    and the anti-automation limits.

    The job worker would poll the database inside every server process and skew the reads;
    the load comes from one address, which the limits would refuse after a few requests.
    """
    return os.environ | {
        "RATHAUS_DATABASE_URL": database_url,
        "RATHAUS_WORKER_IN_PROCESS": "false",
        "RATHAUS_ANTI_AUTOMATION": "false",
        "RATHAUS_LOG_LEVEL": "WARNING",
    }
