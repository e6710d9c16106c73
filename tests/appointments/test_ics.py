"""The appointment's calendar file, read back as a calendar app would: fields, time zone across
the daylight-saving switches, reminder, cancellation, escaping and line format."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar, Event

from app.appointments.ics import IcsAppointment, appointment_calendar, event_uid
from app.core.i18n import Language

STAMP = datetime(2027, 3, 20, 14, 5, tzinfo=UTC)
MANAGE_URL = "https://termine.stadt.example/termin?t=7f3a&lang=de"
DESCRIPTION = (
    "Bitte bringen Sie mit: Personalausweis, biometrisches Foto; Gebühr 37,00 €\n"
    "Buchungsnummer: T-4KQ7-M9X8\n"
    f"Termin ansehen, verschieben oder absagen: {MANAGE_URL}"
)


def appointment(**overrides: Any) -> IcsAppointment:
    values: dict[str, Any] = {
        "uid": "0b9d7c1e-2f4a-4c55-9e0b-6d1f3a2b8c7d@termine.stadt.example",
        "summary": "Termin: Personalausweis beantragen",
        "description": DESCRIPTION,
        "location": "Bürgerdienste Hörde, Hörder Bahnhofstraße 16, 44263 Dortmund",
        "starts_at": datetime(2027, 3, 29, 7, 30, tzinfo=UTC),
        "ends_at": datetime(2027, 3, 29, 7, 50, tzinfo=UTC),
        "created_at": datetime(2027, 3, 20, 14, 0, tzinfo=UTC),
        "sequence": 0,
        "language": Language.de,
        "url": MANAGE_URL,
        "organizer": "Stadt Dortmund – Bürgerdienste <buergerdienste@stadt.example>",
    }
    values.update(overrides)
    return IcsAppointment(**values)


def read(data: bytes) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(data)
    assert isinstance(calendar, Calendar)
    (event,) = calendar.events
    return calendar, event


def test_the_file_is_one_published_event_with_the_booking_details() -> None:
    calendar, event = read(appointment_calendar(appointment(), stamp=STAMP))

    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == "-//Digitales Rathaus//Terminvergabe//DE"
    assert calendar["METHOD"] == "PUBLISH"
    assert event["UID"] == "0b9d7c1e-2f4a-4c55-9e0b-6d1f3a2b8c7d@termine.stadt.example"
    assert event.stamp == STAMP
    assert event["CREATED"].dt == datetime(2027, 3, 20, 14, 0, tzinfo=UTC)
    assert event.start == datetime(2027, 3, 29, 7, 30, tzinfo=UTC)
    assert event.end == datetime(2027, 3, 29, 7, 50, tzinfo=UTC)
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event["SUMMARY"] == "Termin: Personalausweis beantragen"
    assert event["SUMMARY"].params["LANGUAGE"] == "de"
    assert event["DESCRIPTION"] == DESCRIPTION
    assert event["LOCATION"] == "Bürgerdienste Hörde, Hörder Bahnhofstraße 16, 44263 Dortmund"
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event["URL"] == MANAGE_URL
    assert event["ORGANIZER"] == "mailto:buergerdienste@stadt.example"
    assert event["ORGANIZER"].params["CN"] == "Stadt Dortmund – Bürgerdienste"


def test_an_english_file_says_so() -> None:
    calendar, event = read(appointment_calendar(appointment(language=Language.en)))

    assert calendar["PRODID"] == "-//Digitales Rathaus//Terminvergabe//EN"
    assert event["DESCRIPTION"].params["LANGUAGE"] == "en"


def test_without_link_and_organizer_the_file_has_neither() -> None:
    _, event = read(appointment_calendar(appointment(url=None, organizer=None)))

    assert "URL" not in event
    assert "ORGANIZER" not in event


@pytest.mark.parametrize(
    ("starts_at", "berlin_wall_clock"),
    [
        # Last Sunday of March: 10:00 is summer time already (UTC+2); 01:30 is still winter.
        (datetime(2027, 3, 28, 8, 0, tzinfo=UTC), "20270328T100000"),
        (datetime(2027, 3, 28, 0, 30, tzinfo=UTC), "20270328T013000"),
        # Last Sunday of October: 10:00 is winter time again (UTC+1); 02:30 happens twice.
        (datetime(2027, 10, 31, 9, 0, tzinfo=UTC), "20271031T100000"),
        (datetime(2027, 10, 31, 0, 30, tzinfo=UTC), "20271031T023000"),
        (datetime(2027, 10, 31, 1, 30, tzinfo=UTC), None),
    ],
)
def test_an_appointment_on_a_daylight_saving_switch_day_starts_at_the_right_instant(
    starts_at: datetime, berlin_wall_clock: str | None
) -> None:
    data = appointment_calendar(
        appointment(
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=20),
            created_at=datetime(2027, 3, 1, tzinfo=UTC),
        )
    )
    calendar, event = read(data)

    # In UTC: Python never finds an ambiguous time equal to one of another zone (PEP 495).
    assert event.start.astimezone(UTC) == starts_at
    if berlin_wall_clock is None:
        # The second 02:30 cannot be written in Berlin time, which means the first one.
        assert b"DTSTART:20271031T013000Z\r\n" in data
        return
    assert f"DTSTART;TZID=Europe/Berlin:{berlin_wall_clock}\r\n".encode() in data
    # A calendar that does not know the zone by name reads it from the included VTIMEZONE.
    (timezone,) = calendar.timezones
    embedded = timezone.to_tz(lookup_tzid=False)
    wall_clock = event["DTSTART"].dt.replace(tzinfo=None)
    assert wall_clock.replace(tzinfo=embedded).astimezone(UTC) == starts_at


def test_the_event_reminds_an_hour_before() -> None:
    _, event = read(appointment_calendar(appointment()))

    (alarm,) = event.walk("VALARM")
    assert alarm["ACTION"] == "DISPLAY"
    assert alarm["TRIGGER"].dt == timedelta(hours=-1)
    assert alarm["DESCRIPTION"] == "Termin: Personalausweis beantragen"


def test_the_reminder_time_can_be_chosen() -> None:
    _, event = read(appointment_calendar(appointment(alarm_minutes_before=24 * 60)))

    (alarm,) = event.walk("VALARM")
    assert alarm["TRIGGER"].dt == timedelta(days=-1)


def test_a_cancellation_removes_the_same_event_with_a_higher_sequence_and_no_reminder() -> None:
    rescheduled = appointment(sequence=2)
    _, published = read(appointment_calendar(rescheduled))
    calendar, cancelled = read(appointment_calendar(rescheduled, cancelled=True))

    assert calendar["METHOD"] == "CANCEL"
    assert cancelled["STATUS"] == "CANCELLED"
    assert cancelled["UID"] == published["UID"]
    assert cancelled["SEQUENCE"] == 3 > published["SEQUENCE"] == 2
    assert cancelled.walk("VALARM") == []


def test_commas_semicolons_line_breaks_and_umlauts_survive_the_round_trip() -> None:
    awkward = 'Größe; Maße, "Zeilen"\nÄrger\\Übermut – 10 € ✓ ' * 3
    _, event = read(
        appointment_calendar(appointment(summary=awkward, description=awkward, location=awkward))
    )

    assert event["SUMMARY"] == awkward
    assert event["DESCRIPTION"] == awkward
    assert event["LOCATION"] == awkward


def test_lines_end_in_crlf_and_hold_at_most_75_octets() -> None:
    data = appointment_calendar(appointment(description="Ä" * 200))

    assert data.endswith(b"END:VCALENDAR\r\n")
    lines = data.split(b"\r\n")
    assert b"\n" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 75
    for line in lines:
        line.decode("utf-8")  # a fold never splits a character


def test_the_uid_is_the_booking_id_at_the_sites_host() -> None:
    booking_id = uuid.UUID("0b9d7c1e-2f4a-4c55-9e0b-6d1f3a2b8c7d")

    uid = event_uid(booking_id, "https://termine.stadt.example/buergerdienste/")

    assert uid == "0b9d7c1e-2f4a-4c55-9e0b-6d1f3a2b8c7d@termine.stadt.example"


@pytest.mark.parametrize(
    "change",
    [
        {"starts_at": datetime(2027, 3, 29, 9, 30)},
        {"ends_at": datetime(2027, 3, 29, 7, 30, tzinfo=UTC)},
        {"sequence": -1},
    ],
)
def test_an_impossible_appointment_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        replace(appointment(), **change)
