"""Mail templates: the recipient's language, text and HTML, escaping, and loud mistakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jinja2 import TemplateNotFound, UndefinedError

from app.core.i18n import Language
from app.notifications.message import Attachment
from app.notifications.service import TEST_MESSAGE
from app.notifications.templates import MailTemplates, template_directories
from tests.fixtures.notifications import BOOKING_MAIL, booking_context, probe_service

HOSTILE = '<script>alert("x")</script> & <a href="https://evil.example">Login</a>'
EVERY_PART = {"de.txt", "de.html", "en.txt", "en.html"}


@pytest.fixture
def templates() -> MailTemplates:
    return probe_service().templates


def test_german_recipient_gets_german_subject_text_and_html(templates: MailTemplates) -> None:
    mail = templates.render(BOOKING_MAIL, Language.de, booking_context())

    assert mail.subject == "Ihr Termin am 08.12.2026 um 10:30 Uhr"
    assert mail.text.startswith("Guten Tag Erika Mustermann,\n\nIhr Termin in den Bürgerdienste")
    assert "Absagen: https://termine.stadt.example/absagen?t=7f3a&lang=de" in mail.text
    assert "Diese Nachricht wurde automatisch vom Digitalen Rathaus versandt." in mail.text
    assert '<html lang="de"' in mail.html
    assert "<title>Ihr Termin am 08.12.2026 um 10:30 Uhr</title>" in mail.html
    assert "<h1" in mail.html
    assert '<a href="https://termine.stadt.example/absagen?t=7f3a&amp;lang=de">' in mail.html
    assert "Termin absagen" in mail.html


def test_english_recipient_gets_english_subject_text_and_html(templates: MailTemplates) -> None:
    mail = templates.render(BOOKING_MAIL, Language.en, booking_context())

    assert mail.subject == "Your appointment on 08.12.2026 at 10:30"
    assert mail.text.startswith("Hello Erika Mustermann,")
    assert "This message was sent automatically by the Digitales Rathaus." in mail.text
    assert '<html lang="en"' in mail.html
    assert "Cancel the appointment" in mail.html
    assert "Guten Tag" not in mail.text + mail.html


def test_hostile_value_is_escaped_in_html_and_kept_verbatim_in_text(
    templates: MailTemplates,
) -> None:
    mail = templates.render(BOOKING_MAIL, Language.de, booking_context(citizen_name=HOSTILE))

    assert "<script>" not in mail.html
    assert '<a href="https://evil.example">' not in mail.html
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; "
        "&lt;a href=&#34;https://evil.example&#34;&gt;Login&lt;/a&gt;"
    ) in mail.html
    assert f"Guten Tag {HOSTILE}," in mail.text


def test_a_missing_variable_fails_loudly_naming_it(templates: MailTemplates) -> None:
    context = booking_context()
    del context["cancel_url"]

    with pytest.raises(UndefinedError, match="'cancel_url' is undefined"):
        templates.render(BOOKING_MAIL, Language.de, context)


def test_an_unknown_template_fails_loudly(templates: MailTemplates) -> None:
    with pytest.raises(TemplateNotFound, match=r"probe/booking_cancelled\.en\.txt"):
        templates.render("probe/booking_cancelled", Language.en, booking_context())


def test_the_context_may_not_replace_language_or_subject(templates: MailTemplates) -> None:
    with pytest.raises(ValueError, match="may not set language, subject"):
        templates.render(
            BOOKING_MAIL, Language.de, booking_context(language="en", subject="Gewonnen!")
        )


def test_the_subject_is_one_line_even_when_a_value_has_line_breaks(
    templates: MailTemplates,
) -> None:
    mail = templates.render(BOOKING_MAIL, Language.de, booking_context(time="10:30\r\nBcc: x@y"))

    assert mail.subject == "Ihr Termin am 08.12.2026 um 10:30 Bcc: x@y Uhr"


def test_every_shipped_template_has_text_and_html_in_both_languages() -> None:
    found: dict[str, set[str]] = {}
    for domain, directory in template_directories().items():
        for path in directory.glob("*.*.*"):
            name, language, part = path.name.rsplit(".", 2)
            found.setdefault(f"{domain}/{name}", set()).add(f"{language}.{part}")

    assert TEST_MESSAGE in found
    incomplete = {name: EVERY_PART - parts for name, parts in found.items() if parts != EVERY_PART}
    assert incomplete == {}


@pytest.mark.parametrize("language", list(Language))
def test_the_test_message_renders_in_each_language(language: Language) -> None:
    mail = MailTemplates.discover().render(TEST_MESSAGE, language, {"instance": "rathaus.test"})

    assert "rathaus.test" in mail.text
    assert "rathaus.test" in mail.html
    assert mail.subject in mail.html


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("../termin.ics", "text/calendar"),
        ("termin\r\n.ics", "text/calendar"),
        ("", "text/calendar"),
        ("termin.ics", "text/calendar; method=REQUEST"),
        ("termin.ics", "calendar"),
    ],
)
def test_an_attachment_needs_a_plain_file_name_and_a_content_type(
    filename: str, content_type: str
) -> None:
    with pytest.raises(ValueError, match=r"^(filename|content_type) must"):
        Attachment(filename, content_type, b"BEGIN:VCALENDAR")


@pytest.mark.parametrize(
    ("instant", "language", "day", "time"),
    [
        (
            datetime(2027, 3, 26, 8, 30, tzinfo=UTC),
            Language.de,
            "Freitag, 26. März 2027",
            "09:30 Uhr",
        ),
        (
            datetime(2027, 3, 29, 7, 30, tzinfo=UTC),
            Language.de,
            "Montag, 29. März 2027",
            "09:30 Uhr",
        ),
        (datetime(2027, 3, 29, 7, 30, tzinfo=UTC), Language.en, "Monday, 29 March 2027", "9:30 AM"),
        (
            datetime(2027, 11, 1, 13, 5, tzinfo=UTC),
            Language.en,
            "Monday, 1 November 2027",
            "2:05 PM",
        ),
        # 23:30 UTC is the next day in Berlin already.
        (
            datetime(2027, 12, 31, 23, 30, tzinfo=UTC),
            Language.de,
            "Samstag, 1. Januar 2028",
            "00:30 Uhr",
        ),
    ],
)
def test_times_are_shown_in_berlin_in_the_mails_language(
    instant: datetime, language: Language, day: str, time: str
) -> None:
    template = MailTemplates.discover().environment.from_string(
        "{{ t|local_date }}|{{ t|local_time }}|{{ t|local_datetime }}"
    )

    rendered = template.render(t=instant, language=language.value)

    assert rendered == f"{day}|{time}|{day}, {time}"


def test_a_time_without_zone_is_refused_rather_than_guessed() -> None:
    template = MailTemplates.discover().environment.from_string("{{ t|local_time }}")

    with pytest.raises(ValueError, match="timezone-aware"):
        template.render(t=datetime(2027, 3, 29, 9, 30), language="de")
