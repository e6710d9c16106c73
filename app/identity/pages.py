"""Accessible HTML pages of the development sign-in stand-ins (WCAG 2.1 AA).

Plain HTML with no script: a heading structure, a fieldset with a legend, labelled radio
buttons, visible focus and enough contrast. German with English alongside.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from app.core.pages import STYLE


def choice_page(
    *,
    title_de: str,
    title_en: str,
    intro_de: str,
    intro_en: str,
    action: str,
    state: str,
    field: str,
    choices: Sequence[tuple[str, str, str]],
) -> str:
    """A form posting `field` and `state` to `action`; each choice is (value, German, English)."""
    options = "\n".join(
        f'<label for="c-{i}"><input type="radio" id="c-{i}" name="{escape(field)}" '
        f'value="{escape(value)}" required{" checked" if i == 0 else ""}> {escape(de)} '
        f'<span class="en" lang="en">({escape(en)})</span></label>'
        for i, (value, de, en) in enumerate(choices)
    )
    return f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title_de)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{escape(title_de)} <span class="en" lang="en">/ {escape(title_en)}</span></h1>
<p>{escape(intro_de)}</p>
<p class="en" lang="en">{escape(intro_en)}</p>
<form method="post" action="{escape(action)}">
<input type="hidden" name="state" value="{escape(state)}">
<fieldset>
<legend>Wer meldet sich an? <span lang="en">Who is signing in?</span></legend>
{options}
</fieldset>
<button type="submit">Weiter <span lang="en">/ Continue</span></button>
</form>
</main>
</body>
</html>
"""
