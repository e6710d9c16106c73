"""The appointment mails as the citizen reads them: subject, times in Berlin across the
daylight-saving switches, the place, the links, and every part in both languages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from jinja2 import UndefinedError

from app.core.i18n import Language
from app.notifications.message import MailContent
from app.notifications.templates import MailTemplates, template_directories

HOSTILE = '<script>alert("x")</script>'
VERIFY_URL = "https://termine.stadt.example/bestaetigen?b=7f3a&code=482913"
MANAGE_URL = "https://termine.stadt.example/termin?t=9c1e&lang=de"
CANCEL_URL = "https://termine.stadt.example/termin/absagen?t=9c1e&lang=de"
BOOK_AGAIN_URL = "https://termine.stadt.example/buchen?service=personalausweis&lang=de"
# What each mail needs besides `citizen_name` and `appointment`.
EXTRA_CONTEXT: dict[str, dict[str, Any]] = {
    "appointments/booking_verification": {
        "code": "482913",
        "verify_url": VERIFY_URL,
        "valid_minutes": 15,
    },
    "appointments/booking_confirmed": {
        "manage_url": MANAGE_URL,
        "cancel_url": CANCEL_URL,
        "check_in_qr_cid": "qr-3c9d2e1f7a6b4c5d8e9f0a1b2c3d4e5f@termine.stadt.example",
    },
    "appointments/booking_reminder": {
        "manage_url": MANAGE_URL,
        "cancel_url": CANCEL_URL,
        "hours_before": 24,
    },
    "appointments/booking_cancelled": {"book_again_url": BOOK_AGAIN_URL},
}
MAILS = sorted(EXTRA_CONTEXT)
EVERY_MAIL_IN_EVERY_LANGUAGE = [(name, language) for name in MAILS for language in Language]


def appointment(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "reference": "T-4KQ7-M9X8",
        "service_name": "Personalausweis beantragen",
        "bring": "Ihren bisherigen Ausweis\nEin biometrisches Passfoto",
        "branch_name": "Bürgerdienste Hörde",
        "branch_address": ["Hörder Bahnhofstraße 16", "44263 Dortmund"],
        "starts_at": datetime(2027, 3, 29, 7, 30, tzinfo=UTC),
        "ends_at": datetime(2027, 3, 29, 7, 50, tzinfo=UTC),
        "persons": 1,
        "reason": None,
    }
    values.update(overrides)
    return values


def context(name: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "citizen_name": "Erika Mustermann",
        "appointment": appointment(),
        **EXTRA_CONTEXT[name],
    }
    values.update(overrides)
    return values


def render(name: str, language: Language = Language.de, **overrides: Any) -> MailContent:
    return MailTemplates.discover().render(name, language, context(name, **overrides))


def test_every_appointment_mail_has_text_and_html_in_both_languages() -> None:
    directory = template_directories()["appointments"]
    expected = {
        f"{name.removeprefix('appointments/')}.{language.value}.{part}"
        for name in MAILS
        for language in Language
        for part in ("txt", "html")
    }

    assert expected <= {path.name for path in directory.iterdir()}


@pytest.mark.parametrize(("name", "language"), EVERY_MAIL_IN_EVERY_LANGUAGE)
def test_every_mail_shows_the_appointment_in_text_and_html(name: str, language: Language) -> None:
    mail = render(name, language)

    assert f"<title>{mail.subject}</title>" in mail.html
    assert f'<html lang="{language.value}"' in mail.html
    for part in (mail.text, mail.html):
        assert "Erika Mustermann" in part
        assert "Personalausweis beantragen" in part
        assert "T-4KQ7-M9X8" in part
        assert "Bürgerdienste Hörde" in part
        assert "Hörder Bahnhofstraße 16" in part
        assert "44263 Dortmund" in part
    where = "Wo" if language is Language.de else "Where"
    assert f"{where}: Bürgerdienste Hörde, Hörder Bahnhofstraße 16, 44263 Dortmund" in mail.text
    assert "Bürgerdienste Hörde<br>Hörder Bahnhofstraße 16<br>44263 Dortmund" in mail.html


@pytest.mark.parametrize(("name", "language"), EVERY_MAIL_IN_EVERY_LANGUAGE)
def test_every_mail_is_wholly_in_the_recipients_language(name: str, language: Language) -> None:
    mail = render(name, language)
    other_greeting = "Hello" if language is Language.de else "Guten Tag"

    assert other_greeting not in mail.text + mail.html
    assert ("Montag, 29. März 2027" if language is Language.de else "Monday, 29 March 2027") in (
        mail.text
    )


@pytest.mark.parametrize(
    ("name", "variable"),
    [(name, variable) for name in MAILS for variable in context(name)],
)
def test_a_mail_without_one_of_its_variables_fails_naming_it(name: str, variable: str) -> None:
    incomplete = context(name)
    del incomplete[variable]

    with pytest.raises(UndefinedError, match=f"'{variable}' is undefined"):
        MailTemplates.discover().render(name, Language.de, incomplete)


def test_the_verification_mail_carries_the_code_in_subject_and_body() -> None:
    german = render("appointments/booking_verification")
    english = render("appointments/booking_verification", Language.en)

    assert german.subject == "Bestätigungscode 482913 für Ihren Termin"
    assert english.subject == "Confirmation code 482913 for your appointment"
    assert "Ihr Bestätigungscode: 482913" in german.text
    assert "innerhalb\nvon 15 Minuten. Erst dann ist er für Sie gebucht." in german.text
    assert VERIFY_URL in german.text
    assert '<a href="https://termine.stadt.example/bestaetigen?b=7f3a&amp;code=482913"' in (
        german.html
    )
    assert ">Termin bestätigen</a>" in german.html
    assert "within\n15 minutes. Only then is it booked for you." in english.text


def test_the_verification_mail_counts_a_single_minute_right() -> None:
    mail = render("appointments/booking_verification", valid_minutes=1)

    assert "von 1 Minute." in mail.text


def test_the_confirmation_gives_time_place_links_and_what_to_bring() -> None:
    mail = render("appointments/booking_confirmed")

    assert mail.subject == "Ihr Termin ist bestätigt: Montag, 29. März 2027, 09:30 Uhr"
    assert "Wann: Montag, 29. März 2027, 09:30 Uhr bis 09:50 Uhr" in mail.text
    assert "Bitte bringen Sie mit:\nIhren bisherigen Ausweis\nEin biometrisches Passfoto" in (
        mail.text
    )
    assert "Kalenderdatei (.ics)" in mail.text
    assert f"Termin ansehen oder verschieben:\n{MANAGE_URL}" in mail.text
    assert CANCEL_URL in mail.text
    assert '<a href="https://termine.stadt.example/termin?t=9c1e&amp;lang=de">' in mail.html
    assert "Ihren bisherigen Ausweis<br>Ein biometrisches Passfoto" in mail.html


def test_the_english_confirmation_shows_english_dates_and_times() -> None:
    mail = render("appointments/booking_confirmed", Language.en)

    assert mail.subject == "Your appointment is confirmed: Monday, 29 March 2027, 9:30 AM"
    assert "When: Monday, 29 March 2027, 9:30 AM to 9:50 AM" in mail.text
    assert "attached as a calendar file (.ics)" in mail.text


@pytest.mark.parametrize(
    ("starts_at", "german", "english"),
    [
        # The Friday before and the Monday after each switch: 09:30 in Berlin both times.
        (
            datetime(2027, 3, 26, 8, 30, tzinfo=UTC),
            "Freitag, 26. März 2027, 09:30 Uhr",
            "Friday, 26 March 2027, 9:30 AM",
        ),
        (
            datetime(2027, 3, 29, 7, 30, tzinfo=UTC),
            "Montag, 29. März 2027, 09:30 Uhr",
            "Monday, 29 March 2027, 9:30 AM",
        ),
        (
            datetime(2027, 10, 29, 7, 30, tzinfo=UTC),
            "Freitag, 29. Oktober 2027, 09:30 Uhr",
            "Friday, 29 October 2027, 9:30 AM",
        ),
        (
            datetime(2027, 11, 1, 8, 30, tzinfo=UTC),
            "Montag, 1. November 2027, 09:30 Uhr",
            "Monday, 1 November 2027, 9:30 AM",
        ),
        (
            datetime(2027, 3, 29, 12, 15, tzinfo=UTC),
            "Montag, 29. März 2027, 14:15 Uhr",
            "Monday, 29 March 2027, 2:15 PM",
        ),
    ],
)
def test_the_reminder_shows_the_time_in_berlin_across_the_daylight_saving_switches(
    starts_at: datetime, german: str, english: str
) -> None:
    booked = appointment(starts_at=starts_at, ends_at=starts_at.replace(minute=50))

    german_mail = render("appointments/booking_reminder", appointment=booked)
    english_mail = render("appointments/booking_reminder", Language.en, appointment=booked)

    assert german_mail.subject == f"Erinnerung an Ihren Termin: {german}"
    assert f"Wann: {german} bis" in german_mail.text
    assert f'<td style="padding:4px 0;">{german} bis' in german_mail.html
    assert english_mail.subject == f"Reminder of your appointment: {english}"
    assert f"When: {english} to" in english_mail.text


def test_the_reminder_offers_to_cancel_in_time() -> None:
    mail = render("appointments/booking_reminder")

    assert "Ihr Termin steht in den nächsten 24 Stunden an." in mail.text
    assert f"jemand anderes nutzen kann:\n{CANCEL_URL}" in mail.text
    assert '<a href="https://termine.stadt.example/termin/absagen?t=9c1e&amp;lang=de">' in (
        mail.html
    )
    assert "Bitte bringen Sie mit:" in mail.text


def test_the_cancellation_links_to_booking_again_and_says_nothing_about_bringing() -> None:
    german = render("appointments/booking_cancelled")
    english = render("appointments/booking_cancelled", Language.en)

    assert german.subject == "Ihr Termin wurde abgesagt: Montag, 29. März 2027, 09:30 Uhr"
    assert english.subject == "Your appointment has been cancelled: Monday, 29 March 2027, 9:30 AM"
    assert BOOK_AGAIN_URL in german.text
    assert ">Neuen Termin buchen</a>" in german.html
    assert "Bitte bringen" not in german.text + german.html


def test_a_service_without_anything_to_bring_has_no_such_section() -> None:
    mail = render("appointments/booking_confirmed", appointment=appointment(bring=""))

    assert "Bitte bringen Sie mit" not in mail.text + mail.html


def test_the_number_of_persons_shows_only_when_several_come() -> None:
    alone = render("appointments/booking_confirmed")
    together = render("appointments/booking_confirmed", appointment=appointment(persons=3))

    assert "Personen" not in alone.text + alone.html
    assert "Personen: 3" in together.text
    assert '>Personen</th><td style="padding:4px 0;">3</td>' in together.html


@pytest.mark.parametrize("name", MAILS)
def test_hostile_names_are_escaped_in_html_and_kept_verbatim_in_text(name: str) -> None:
    mail = render(
        name,
        citizen_name=HOSTILE,
        appointment=appointment(service_name=HOSTILE, bring=HOSTILE, branch_name=HOSTILE),
    )

    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in mail.html
    assert f"Guten Tag {HOSTILE}," in mail.text


def test_the_confirmation_shows_the_qr_code_inline_with_a_text_alternative() -> None:
    cid = EXTRA_CONTEXT["appointments/booking_confirmed"]["check_in_qr_cid"]
    german = render("appointments/booking_confirmed")
    english = render("appointments/booking_confirmed", Language.en)

    assert f'<img src="cid:{cid}"' in german.html
    assert 'alt="QR-Code zum Anmelden am Standort, Buchungsnummer T-4KQ7-M9X8"' in german.html
    assert 'alt="QR code to check in at the branch, booking number T-4KQ7-M9X8"' in english.html
    assert "QR-Code aus dieser E-Mail\nvor oder nennen die Buchungsnummer T-4KQ7-M9X8" in (
        german.text
    )


@pytest.mark.parametrize(
    ("name", "language", "told"),
    [
        ("appointments/booking_cancelled", Language.de, "Grund der Absage:"),
        ("appointments/booking_cancelled", Language.en, "Reason for the cancellation:"),
        ("appointments/booking_confirmed", Language.de, "Hinweis des Bürgerservice:"),
        ("appointments/booking_confirmed", Language.en, "Note from the citizens' service:"),
    ],
)
def test_the_reason_staff_gave_for_a_change_is_told_only_when_there_is_one(
    name: str, language: Language, told: str
) -> None:
    reason = "Der Schalter ist an diesem Tag nicht besetzt."
    with_reason = render(name, language, appointment=appointment(reason=reason))
    without = render(name, language)

    assert f"{told} {reason}" in with_reason.text
    assert reason in with_reason.html
    assert told not in without.text + without.html
