from __future__ import annotations

import pytest

from app.core.i18n import Language, negotiate_language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Language.de),
        ("", Language.de),
        ("en", Language.en),
        ("en-US,en;q=0.9", Language.en),
        ("de-DE,de;q=0.9,en;q=0.8", Language.de),
        ("fr-FR, en;q=0.5, de;q=0.4", Language.en),
        ("en;q=0.2, de;q=0.8", Language.de),
        ("tr, ar", Language.de),
        ("en;q=0", Language.de),
        ("en;q=abc", Language.de),
        ("*", Language.de),
    ],
)
def test_language_is_negotiated_from_accept_language(
    header: str | None, expected: Language
) -> None:
    assert negotiate_language(header) is expected
