"""Refuse text no field may hold: control characters and unpaired UTF-16 surrogates.

PostgreSQL cannot store U+0000 in text at all, and a lone surrogate cannot even be encoded as
UTF-8, so either would fail deep inside a write as a 500. Nobody types them in a form, so they
are refused up front, for every route, with a 422 that points at each field. Tab, line feed
and carriage return stay allowed: multi-line texts need them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import Request

from app.core.i18n import Text
from app.core.problems import pointer_token

_CONTROL_CHARACTERS = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f"
_UNSAFE = re.compile(f"[{_CONTROL_CHARACTERS}\\ud800-\\udfff]")
# The rule as a JSON Schema pattern for the contract. Lone surrogates are left out there: they
# are no Unicode text at all, and many validators refuse a pattern that names them.
SAFE_TEXT_PATTERN = f"^[^{_CONTROL_CHARACTERS}]*$"
NON_BLANK_TEXT_PATTERN = (
    f"^[^{_CONTROL_CHARACTERS}]*[^\\s{_CONTROL_CHARACTERS}][^{_CONTROL_CHARACTERS}]*$"
)
"""As `SAFE_TEXT_PATTERN`, and more than white space: for a name or a reason that a field
with its own pattern must state in full."""

BodyKind = Literal["json", "form"]

UNSAFE_TEXT = Text(
    de="Der Text enthält Steuerzeichen oder ungültige Unicode-Zeichen.",
    en="The text contains control characters or invalid Unicode characters.",
)


def is_unsafe(text: str) -> bool:
    return _UNSAFE.search(text) is not None


def _json_pointers(value: Any, path: str) -> Iterator[str]:
    """Pointers to every string in a parsed JSON document (keys included) that is unsafe."""
    if isinstance(value, str):
        if is_unsafe(value):
            yield path or "#"
    elif isinstance(value, dict):
        for key, item in value.items():
            member = f"{path or '#'}/{pointer_token(str(key))}"
            if is_unsafe(str(key)):
                yield member
            yield from _json_pointers(item, member)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_pointers(item, f"{path or '#'}/{index}")


async def unsafe_text_errors(request: Request, *, body: BodyKind | None) -> list[dict[str, str]]:
    """One `{pointer, detail}` per parameter or body member holding unsafe text."""
    pointers: list[str] = []
    for location, items in (
        ("path", request.path_params.items()),
        ("query", request.query_params.multi_items()),
    ):
        pointers += [
            f"#/{location}/{pointer_token(str(name))}"
            for name, value in items
            if is_unsafe(str(name)) or is_unsafe(str(value))
        ]
    if body == "json":
        pointers += _json_pointers(_parsed_json(await request.body()), "")
    elif body == "form":
        form = await request.form()
        pointers += [
            f"#/{pointer_token(name)}"
            for name, value in form.multi_items()
            if is_unsafe(name) or (isinstance(value, str) and is_unsafe(value))
        ]
    detail = UNSAFE_TEXT.get()
    return [{"pointer": pointer, "detail": detail} for pointer in dict.fromkeys(pointers)]


def _parsed_json(body: bytes) -> Any:
    """The body as JSON, or None when it is none: malformed JSON gets its own 400 later."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None
