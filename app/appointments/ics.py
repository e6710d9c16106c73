"""The appointment as an iCalendar file (RFC 5545), attached to the confirmation and cancellation.

One booking is one event with a fixed UID: a reschedule sends it again with a higher SEQUENCE,
a cancellation with METHOD:CANCEL, so a calendar that imported it updates or removes it instead
of adding a second one. Times are written in Europe/Berlin with the zone's definition
(VTIMEZONE) included, so the event stays at the right hour across the daylight-saving switches
in every calendar, also one that does not know the zone by name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit

from icalendar import Alarm, Calendar, Event, vCalAddress

from app.core.db import utcnow
from app.core.i18n import BERLIN, Language

PRODUCT = "Digitales Rathaus//Terminvergabe"


@dataclass(frozen=True, slots=True)
class IcsAppointment:
    """What the calendar file says about one booking; texts are in `language` already."""

    uid: str
    summary: str
    description: str
    location: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    sequence: int
    language: Language
    url: str | None = None
    organizer: str | None = None
    """A mailbox such as `settings.mail_from`: `Name <address>` or a bare address."""
    alarm_minutes_before: int = 60

    def __post_init__(self) -> None:
        for instant in (self.starts_at, self.ends_at, self.created_at):
            if instant.utcoffset() is None:
                raise ValueError("times must be timezone-aware")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.sequence < 0 or self.alarm_minutes_before < 0:
            raise ValueError("sequence and alarm_minutes_before must not be negative")


def event_uid(booking_id: uuid.UUID, public_base_url: str) -> str:
    """The booking's UID, the same in every file sent for it: `<id>@<host of the site>`."""
    return f"{booking_id}@{urlsplit(public_base_url).hostname}"


def appointment_calendar(
    appointment: IcsAppointment, *, cancelled: bool = False, stamp: datetime | None = None
) -> bytes:
    """The .ics of `appointment`: METHOD:PUBLISH, or METHOD:CANCEL when `cancelled`.

    A cancellation is a revision of the event, so its SEQUENCE is one above the appointment's.
    `stamp` (DTSTAMP, when this file was made) defaults to now.
    """
    event = _event(appointment, cancelled=cancelled, stamp=stamp or utcnow())
    calendar = Calendar()
    calendar.add("PRODID", f"-//{PRODUCT}//{appointment.language.value.upper()}")
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", "CANCEL" if cancelled else "PUBLISH")
    calendar.add_component(event)
    first, last = _timezone_window(appointment)
    calendar.add_missing_timezones(first_date=first, last_date=last)
    return bytes(calendar.to_ical())


def _event(appointment: IcsAppointment, *, cancelled: bool, stamp: datetime) -> Event:
    language = {"LANGUAGE": appointment.language.value}
    event = Event()
    event.add("UID", appointment.uid)
    event.add("DTSTAMP", stamp)
    event.add("CREATED", appointment.created_at)
    event.add("DTSTART", _wall_clock(appointment.starts_at))
    event.add("DTEND", _wall_clock(appointment.ends_at))
    event.add("SEQUENCE", appointment.sequence + 1 if cancelled else appointment.sequence)
    event.add("STATUS", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("SUMMARY", appointment.summary, parameters=language)
    event.add("DESCRIPTION", appointment.description, parameters=language)
    event.add("LOCATION", appointment.location, parameters=language)
    if appointment.url:
        event.add("URL", appointment.url)
    if appointment.organizer:
        event.add("ORGANIZER", _organizer(appointment.organizer))
    # A calendar that imports a cancellation as a new event must not remind of it.
    if not cancelled:
        event.add_component(
            Alarm.new_display(
                description=appointment.summary,
                trigger=-timedelta(minutes=appointment.alarm_minutes_before),
            )
        )
    return event


def _wall_clock(instant: datetime) -> datetime:
    """Berlin time, or UTC for the second pass of the hour repeated in October: a Berlin time
    there means its first pass (RFC 5545 §3.3.5)."""
    local = instant.astimezone(BERLIN)
    return local if local.fold == 0 else instant.astimezone(UTC)


def _organizer(mailbox: str) -> vCalAddress:
    name, address = parseaddr(mailbox)
    return vCalAddress.new(address, cn=name or None)


def _timezone_window(appointment: IcsAppointment) -> tuple[date, date]:
    """The years of the appointment: enough for the VTIMEZONE to hold both switches around
    it and no decades of history."""
    first = appointment.starts_at.astimezone(BERLIN).year
    last = appointment.ends_at.astimezone(BERLIN).year + 1
    return date(first, 1, 1), date(last, 1, 1)
