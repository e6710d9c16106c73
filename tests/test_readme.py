"""The README is the newcomer's entry point; it must stay true."""

from __future__ import annotations

import re

from app.core.config import PROJECT_ROOT, Settings

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_begins_with_exactly_two_commands() -> None:
    first_block = re.match(r"```sh\n(.*?)\n```", README, re.DOTALL)

    assert first_block is not None, "the README must begin with a shell block"
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]


def test_readme_documents_every_setting() -> None:
    documented = set(re.findall(r"\| `(RATHAUS_[A-Z_]+)` \|", README))

    expected = {f"RATHAUS_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected
