"""The notification package depends on core only, so that every domain may use it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from app.core.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "app" / "notifications"
ALLOWED = ("app.core.", "app.notifications.")


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_notifications_import_nothing_of_the_app_but_core_and_themselves() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    outside = {
        str(path.relative_to(PROJECT_ROOT)): name
        for path in modules
        for name in imported_modules(path)
        if name.split(".")[0] == "app" and not name.startswith(ALLOWED)
    }

    assert len(modules) > 5
    assert outside == {}
