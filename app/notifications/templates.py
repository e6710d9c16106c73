"""Mail templates: Jinja2, one text and one HTML file per language, owned by each domain.

A template `appointments/booking_confirmed` is the four files

    app/appointments/templates/mail/booking_confirmed.de.txt
    app/appointments/templates/mail/booking_confirmed.de.html
    app/appointments/templates/mail/booking_confirmed.en.txt
    app/appointments/templates/mail/booking_confirmed.en.html

The text file extends `notifications/layout.txt` and holds the subject in a `subject` block;
the HTML file extends `notifications/layout.html`, the shared accessible layout. Both fill the
`content` block. HTML is autoescaped, text is not; an undefined variable is an error. Every
template sees `language` (`de` or `en`) and `subject`, besides the caller's context.

The filters `local_date`, `local_time` and `local_datetime` show an aware datetime in
Europe/Berlin in the template's language: `{{ starts_at|local_datetime }}` is
"Montag, 29. März 2027, 09:30 Uhr" or "Monday, 29 March 2027, 9:30 AM".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_time
from jinja2 import (
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    Template,
    TemplateError,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from app.core.i18n import BERLIN, Language
from app.notifications.message import MailContent

APP_ROOT = Path(__file__).resolve().parents[1]
PARTS = ("txt", "html")
RESERVED_NAMES = frozenset({"language", "subject"})
# Patterns rather than CLDR's named styles, which change between Babel releases.
DATE_PATTERNS = {Language.de: "EEEE, d. MMMM y", Language.en: "EEEE, d MMMM y"}
TIME_PATTERNS = {Language.de: "HH:mm 'Uhr'", Language.en: "h:mm a"}


def template_directories(app_root: Path = APP_ROOT) -> dict[str, Path]:
    """`app/<domain>/templates/mail/` of every domain, by domain name."""
    return {path.parents[1].name: path for path in sorted(app_root.glob("*/templates/mail"))}


class MailTemplates:
    def __init__(self, directories: Mapping[str, Path]) -> None:
        self.directories = dict(directories)
        self.environment = Environment(
            loader=PrefixLoader(
                {prefix: FileSystemLoader(path) for prefix, path in self.directories.items()}
            ),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.environment.filters.update(
            local_date=local_date, local_time=local_time, local_datetime=local_datetime
        )

    @classmethod
    def discover(cls) -> MailTemplates:
        return cls(template_directories())

    def render(self, name: str, language: Language, context: Mapping[str, Any]) -> MailContent:
        """Subject, text and HTML of `name` in `language`; fails on any undefined variable."""
        clashing = RESERVED_NAMES.intersection(context)
        if clashing:
            raise ValueError(f"the template context may not set {', '.join(sorted(clashing))}")
        text_template = self._part(name, language, "txt")
        values = {**context, "language": language.value}
        subject = self._subject(text_template, values)
        values["subject"] = subject
        return MailContent(
            subject=subject,
            text=text_template.render(values),
            html=self._part(name, language, "html").render(values),
        )

    def _part(self, name: str, language: Language, part: str) -> Template:
        return self.environment.get_template(f"{name}.{language.value}.{part}")

    @staticmethod
    def _subject(template: Template, values: dict[str, Any]) -> str:
        block = template.blocks.get("subject")
        if block is None:
            raise TemplateError(f"{template.name} has no subject block")
        # One line: a header cannot hold line breaks, and a template's own layout adds some.
        return " ".join("".join(block(template.new_context(values))).split())


def _local(context: Context, instant: datetime) -> tuple[datetime, Language]:
    if instant.utcoffset() is None:
        raise ValueError("a mail shows only timezone-aware times, never guessing their zone")
    return instant.astimezone(BERLIN), Language(context["language"])


@pass_context
def local_date(context: Context, instant: datetime) -> str:
    """`Montag, 29. März 2027` / `Monday, 29 March 2027`."""
    local, language = _local(context, instant)
    return format_date(local, DATE_PATTERNS[language], locale=language.value)


@pass_context
def local_time(context: Context, instant: datetime) -> str:
    """`09:30 Uhr` / `9:30 AM`."""
    local, language = _local(context, instant)
    return format_time(local, TIME_PATTERNS[language], locale=language.value)


@pass_context
def local_datetime(context: Context, instant: datetime) -> str:
    """`Montag, 29. März 2027, 09:30 Uhr` / `Monday, 29 March 2027, 9:30 AM`."""
    return f"{local_date(context, instant)}, {local_time(context, instant)}"
