"""The layering: core imports no domain, the organisation only core, and no domain another
domain's models. Checked with import-linter (contracts in pyproject.toml) and over the import
graph, and shown to catch a violation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from app.core.config import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def domain_of(module: str) -> str | None:
    """`app.identity.tokens` → `identity`; core and the app's composition are no domain."""
    parts = module.split(".")
    if len(parts) < 3 or parts[0] != "app" or parts[1] == "core":
        return None
    return parts[1]


def foreign_model_imports(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """Every import of a domain's `models` from another domain."""
    found = []
    for importer in sorted(graph.modules):
        source = domain_of(importer)
        if source is None:
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            target = domain_of(imported)
            is_models = imported.split(".")[2:3] == ["models"]
            if target is not None and target != source and is_models:
                found.append((importer, imported))
    return found


def test_the_layering_contracts_are_kept() -> None:
    result = lint_imports(PROJECT_ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_domain_imports_another_domains_models() -> None:
    graph = grimp.build_graph("app")

    assert foreign_model_imports(graph) == []
    assert "app.organisation.models" in graph.modules


def test_the_graph_check_finds_a_foreign_model_import() -> None:
    graph = grimp.ImportGraph()
    for module in ("app.identity.staff", "app.identity.models", "app.organisation.models"):
        graph.add_module(module)
    graph.add_import(importer="app.identity.staff", imported="app.identity.models")
    graph.add_import(importer="app.identity.staff", imported="app.organisation.models")

    assert foreign_model_imports(graph) == [("app.identity.staff", "app.organisation.models")]


@pytest.mark.parametrize(
    ("module", "violation", "contract"),
    [
        ("app/core/leak.py", "import app.identity.tokens\n", "Core imports no domain"),
        (
            "app/organisation/leak.py",
            "from app.identity import staff\n",
            "The organisation imports only core",
        ),
    ],
)
def test_import_linter_catches_a_broken_layer(
    tmp_path: Path, module: str, violation: str, contract: str
) -> None:
    shutil.copytree(PROJECT_ROOT / "app", tmp_path / "app")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / module).write_text(violation, encoding="utf-8")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
