"""The container image as an operator meets it, read from the Dockerfile (no Docker engine here)."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from app.cli import build_parser, cmd_serve, cmd_worker

ROOT = Path(__file__).resolve().parents[1]

Instruction = dict[str, Any]


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    structure: list[Instruction] = DockerfileParser(path=str(ROOT / "Dockerfile")).structure
    return [i for i in structure if i["instruction"] != "COMMENT"]


@pytest.fixture(scope="module")
def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The instructions grouped by stage, each starting with its FROM."""
    grouped: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append(instruction)
    return grouped


@pytest.fixture(scope="module")
def final_stage(stages: list[list[Instruction]]) -> list[Instruction]:
    return stages[-1]


def values(stage: list[Instruction], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def last_value(stage: list[Instruction], name: str) -> str:
    found = values(stage, name)
    assert found, f"the final stage has no {name}"
    return found[-1]


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def copy_sources(value: str) -> list[str]:
    """The sources of a COPY from the build context; none for a COPY --from another stage."""
    words = shlex.split(value)
    if any(word.startswith("--from=") for word in words):
        return []
    return [word for word in words if not word.startswith("--")][:-1]


def dockerignore_entries() -> set[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_image_is_built_in_named_stages_on_slim_python_3_11(
    stages: list[list[Instruction]],
) -> None:
    assert len(stages) >= 2
    for stage in stages:
        image, as_, name = shlex.split(stage[0]["value"])
        assert image.startswith("python:3.11-slim")
        assert as_.upper() == "AS"
        assert name


def test_dependencies_come_only_from_the_hash_pinned_runtime_lock(
    stages: list[list[Instruction]],
) -> None:
    installs = [
        shlex.split(run)
        for stage in stages[:-1]
        for run in values(stage, "RUN")
        if "pip install" in run
    ]
    lock_install = next(words for words in installs if "-r" in words)
    assert "--require-hashes" in lock_install
    assert lock_install[lock_install.index("-r") + 1] == "requirements/runtime.lock"
    project_install = next(words for words in installs if "." in words)
    assert {"--no-deps", "--no-build-isolation"} <= set(project_install)


def test_every_copied_path_exists_and_is_in_the_build_context(
    instructions: list[Instruction],
) -> None:
    ignored = dockerignore_entries()
    sources = [
        source
        for instruction in instructions
        if instruction["instruction"] in {"COPY", "ADD"}
        for source in copy_sources(instruction["value"])
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert Path(source).parts[0] not in ignored, f"COPY {source}: left out by .dockerignore"


def test_runtime_image_carries_the_venv_code_migrations_and_contract(
    final_stage: list[Instruction],
) -> None:
    copied = " ".join(values(final_stage, "COPY"))
    for needed in ("/opt/venv", "app/", "migrations/", "alembic.ini", "openapi/"):
        assert needed in copied


def test_service_does_not_run_as_root(final_stage: list[Instruction]) -> None:
    user = last_value(final_stage, "USER").split(":")[0]
    assert user not in {"root", "0"}


def test_health_check_asks_healthz_with_python_not_curl(final_stage: list[Instruction]) -> None:
    check = last_value(final_stage, "HEALTHCHECK")
    command = exec_form(check[check.index("CMD") + len("CMD") :].strip())
    assert command[0] == "python"
    assert "http://127.0.0.1:" in command[-1]
    assert "/healthz" in command[-1]


def test_default_command_migrates_then_serves_on_all_interfaces(
    final_stage: list[Instruction],
) -> None:
    assert exec_form(last_value(final_stage, "ENTRYPOINT")) == ["rathaus"]
    args = build_parser().parse_args(exec_form(last_value(final_stage, "CMD")))
    assert args.handler is cmd_serve
    assert args.migrate is True
    assert args.host == "0.0.0.0"  # noqa: S104 - inside a container, by design


def test_docker_run_image_worker_starts_the_job_worker(final_stage: list[Instruction]) -> None:
    entrypoint = exec_form(last_value(final_stage, "ENTRYPOINT"))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert scripts[entrypoint[0]] == "app.cli:main"
    assert build_parser().parse_args(["worker"]).handler is cmd_worker


def test_python_runs_unbuffered(final_stage: list[Instruction]) -> None:
    environment = " ".join(values(final_stage, "ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in environment
    assert "PYTHONUNBUFFERED=1" in environment


def test_image_is_production_unless_the_operator_says_otherwise(
    final_stage: list[Instruction],
) -> None:
    """Without RATHAUS_ENV the server would be in development mode, where anyone can sign in
    as an administrator through dev-login; the image's 0.0.0.0 would offer that to the network."""
    environment = " ".join(values(final_stage, "ENV"))
    assert "RATHAUS_ENV=production" in shlex.split(environment)


def test_build_context_leaves_out_venv_local_data_and_git() -> None:
    assert {".venv", "var", ".git"} <= dockerignore_entries()
