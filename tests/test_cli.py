"""The `rathaus` console script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize("command", ["serve", "worker", "migrate", "seed-demo", "openapi"])
def test_every_subcommand_has_help(command: str) -> None:
    result = run_cli(command, "--help")

    assert result.returncode == 0
    assert f"usage: rathaus {command}" in result.stdout


def test_top_level_help_lists_subcommands() -> None:
    result = run_cli("--help")

    assert result.returncode == 0
    for command in ("serve", "worker", "migrate", "seed-demo", "openapi"):
        assert command in result.stdout


def test_migrate_then_seed_demo_is_idempotent(fresh_database_url: str) -> None:
    env = {"RATHAUS_DATABASE_URL": fresh_database_url}

    assert run_cli("migrate", env=env).returncode == 0
    first = run_cli("seed-demo", env=env)
    second = run_cli("seed-demo", env=env)

    assert first.returncode == 0
    assert "9 branches added, 6 departments added, 4 staff users added" in first.stdout
    assert second.returncode == 0
    assert "0 branches added, 0 departments added, 0 staff users added" in second.stdout


def test_openapi_writes_the_document(tmp_path: Path) -> None:
    output = tmp_path / "openapi.json"

    result = run_cli("openapi", "--output", str(output))

    assert result.returncode == 0
    assert json.loads(output.read_text())["openapi"].startswith("3.1")
    assert run_cli("openapi", "--output", str(output), "--check").returncode == 0
    output.write_text("{}")
    assert run_cli("openapi", "--output", str(output), "--check").returncode == 1
