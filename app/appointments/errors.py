"""What a citizen can get wrong when looking for or holding an appointment, and the calendar
conflicts a clerk's change can run into."""

from __future__ import annotations

from typing import ClassVar

from app.core.errors import (
    Conflict,
    Forbidden,
    InputRefused,
    NotFound,
    Unauthorized,
)
from app.core.i18n import Text


class ServiceNotFound(NotFound):
    slug = "appointment-service-not-found"
    title = Text(de="Dienstleistung nicht gefunden", en="Service not found")
    default_detail = Text(
        de="Eine buchbare Dienstleistung mit dieser Kennung gibt es nicht.",
        en="There is no bookable service with this id.",
    )


class BookingNotFound(NotFound):
    slug = "booking-not-found"
    title = Text(de="Termin nicht gefunden", en="Appointment not found")
    default_detail = Text(
        de="Einen Termin mit dieser Kennung gibt es nicht.",
        en="There is no appointment with this id.",
    )


class AppointmentInputRefused(InputRefused):
    """A well-formed request the calendar cannot take; `errors` points at the field."""


class ServiceNotOffered(AppointmentInputRefused):
    slug = "service-not-offered"
    pointer = "#/branch_id"
    title = Text(de="Dienstleistung hier nicht angeboten", en="Service not offered here")
    default_detail = Text(
        de="Dieser Standort bietet die gewählte Dienstleistung nicht an.",
        en="This branch does not offer the chosen service.",
    )


class TooManyPersons(AppointmentInputRefused):
    slug = "too-many-persons"
    pointer = "#/persons"
    title = Text(de="Zu viele Personen", en="Too many persons")
    default_detail = Text(
        de="Für diese Dienstleistung können nicht so viele Personen einen Termin teilen.",
        en="This many persons cannot share one appointment for this service.",
    )


class StartInPast(AppointmentInputRefused):
    slug = "start-in-past"
    pointer = "#/start"
    title = Text(de="Beginn liegt in der Vergangenheit", en="Start is in the past")
    default_detail = Text(
        de="Der gewählte Beginn liegt in der Vergangenheit.",
        en="The chosen start is in the past.",
    )


class StartBeforeLeadTime(AppointmentInputRefused):
    slug = "start-before-lead-time"
    pointer = "#/start"
    title = Text(de="Beginn zu kurzfristig", en="Start too soon")
    default_detail = Text(
        de="Termine für diese Dienstleistung müssen mit mehr Vorlauf gebucht werden.",
        en="Appointments for this service must be booked further ahead.",
    )


class StartBeyondHorizon(AppointmentInputRefused):
    slug = "start-beyond-horizon"
    pointer = "#/start"
    title = Text(de="Beginn noch nicht buchbar", en="Start not yet bookable")
    default_detail = Text(
        de="So weit im Voraus sind für diese Dienstleistung noch keine Termine freigegeben.",
        en="Appointments this far ahead are not yet released for this service.",
    )


class StartNotAligned(AppointmentInputRefused):
    slug = "start-not-aligned"
    pointer = "#/start"
    title = Text(de="Kein möglicher Beginn", en="Not a possible start")
    default_detail = Text(
        de="Termine beginnen nur zu den Zeiten, die die Verfügbarkeit nennt.",
        en="Appointments start only at the times availability lists.",
    )


class BranchClosed(AppointmentInputRefused):
    slug = "branch-closed"
    pointer = "#/start"
    title = Text(de="Zu dieser Zeit geschlossen", en="Closed at this time")
    default_detail = Text(
        de="Zu dieser Zeit nimmt der Standort keine Termine an (geschlossen, Feiertag oder "
        "außerhalb der Öffnungszeiten).",
        en="The branch takes no appointments at this time (closed, a public holiday or "
        "outside its opening hours).",
    )


class InvalidDateRange(AppointmentInputRefused):
    slug = "invalid-date-range"
    pointer = "#/query/to"
    title = Text(de="Ungültiger Zeitraum", en="Invalid date range")
    default_detail = Text(
        de="Der Zeitraum muss mit 'from' beginnen, mit 'to' enden und darf nicht über den "
        "Buchungshorizont der Dienstleistung hinausreichen.",
        en="The range must start at 'from', end at 'to' and must not reach beyond the "
        "service's booking horizon.",
    )


class SlotTaken(Conflict):
    slug = "slot-taken"
    title = Text(de="Termin bereits vergeben", en="Slot already taken")
    default_detail = Text(
        de="Dieser Termin ist inzwischen vergeben. Bitte wählen Sie einen anderen.",
        en="This slot has just been taken. Please choose another one.",
    )


class BookingsWouldNotFit(Conflict):
    """A change to hours, closures or counters would leave bookings without capacity."""

    slug = "bookings-would-not-fit"
    title = Text(de="Gebuchte Termine passen nicht mehr", en="Booked appointments would not fit")
    default_detail = Text(
        de="Die Änderung wurde nicht übernommen: die in 'bookings' genannten Termine hätten "
        "keinen Platz mehr. Verlegen oder sagen Sie sie zuerst ab.",
        en="The change was not made: the appointments listed in 'bookings' would no longer "
        "have room. Move or cancel them first.",
    )

    def __init__(self, bookings: list[dict[str, str]]) -> None:
        super().__init__(extensions={"bookings": bookings})


class HoldExpired(Conflict):
    slug = "hold-expired"
    title = Text(de="Reservierung abgelaufen", en="Hold expired")
    default_detail = Text(
        de="Die Reservierung ist abgelaufen und der Termin wieder frei. Bitte wählen Sie "
        "erneut einen Termin.",
        en="The hold has expired and the slot is free again. Please choose a slot again.",
    )


class PersonCapReached(Conflict):
    slug = "person-cap-reached"
    title = Text(de="Zu viele offene Termine", en="Too many open appointments")

    def __init__(self, cap: int) -> None:
        super().__init__(
            Text(
                de=f"Sie haben bereits {cap} offene Termine. Bitte sagen Sie einen davon ab, "
                "bevor Sie einen weiteren buchen.",
                en=f"You already have {cap} open appointments. Please cancel one of them "
                "before booking another.",
            ),
            extensions={"cap": cap},
        )


class ContactRequired(AppointmentInputRefused):
    slug = "contact-required"
    pointer = "#/email"
    title = Text(de="Kontaktdaten fehlen", en="Contact details missing")
    default_detail = Text(
        de="Ohne Anmeldung mit dem Online-Ausweis brauchen wir Ihren Namen und Ihre "
        "E-Mail-Adresse, um den Termin zu bestätigen.",
        en="Without signing in with the online ID card, we need your name and e-mail address "
        "to confirm the appointment.",
    )


class WrongVerificationCode(AppointmentInputRefused):
    slug = "wrong-verification-code"
    pointer = "#/code"
    title = Text(de="Falscher Code", en="Wrong code")

    def __init__(self, attempts_left: int) -> None:
        super().__init__(
            Text(
                de=f"Der Code stimmt nicht. Sie haben noch {attempts_left} Versuche.",
                en=f"The code is not correct. You have {attempts_left} attempts left.",
            ),
            attempts_left=attempts_left,
        )
        self.keeps_changes = True


class VerificationAttemptsExhausted(Conflict):
    slug = "verification-attempts-exhausted"
    title = Text(de="Zu viele falsche Codes", en="Too many wrong codes")
    default_detail = Text(
        de="Der Code wurde zu oft falsch eingegeben. Die Reservierung ist aufgehoben; bitte "
        "buchen Sie erneut.",
        en="The code was entered wrongly too often. The hold was released; please book again.",
    )

    def __init__(self) -> None:
        super().__init__(keeps_changes=True)


class BookingCredentialsMissing(Unauthorized):
    slug = "booking-credentials-missing"
    title = Text(de="Zugang zum Termin fehlt", en="Access to the appointment missing")
    default_detail = Text(
        de="Senden Sie den Verwaltungsschlüssel des Termins im Header 'Booking-Token' oder "
        "melden Sie sich mit dem Online-Ausweis an.",
        en="Send the appointment's manage token in the 'Booking-Token' header, or sign in "
        "with the online ID card.",
    )


class NotReschedulable(Conflict):
    slug = "booking-not-reschedulable"
    title = Text(de="Termin nicht verlegbar", en="Appointment cannot be moved")
    default_detail = Text(
        de="Nur gebuchte Termine, die noch bevorstehen, können verlegt werden.",
        en="Only confirmed appointments that are still ahead can be moved.",
    )


class AppointmentBegun(Conflict):
    slug = "appointment-begun"
    title = Text(de="Termin hat begonnen", en="Appointment has begun")
    default_detail = Text(
        de="Der Termin hat bereits begonnen oder ist vorbei und kann nicht mehr abgesagt werden.",
        en="The appointment has already begun or is over and can no longer be cancelled.",
    )


class BookingNotToday(Conflict):
    slug = "booking-not-today"
    title = Text(de="Termin ist nicht heute", en="Appointment is not today")

    def __init__(self, booking_date: str) -> None:
        super().__init__(
            Text(
                de=f"Anmelden lassen sich nur Termine von heute; dieser Termin ist am "
                f"{booking_date}.",
                en=f"Only today's appointments can be checked in; this one is on {booking_date}.",
            ),
            extensions={"booking_date": booking_date},
        )


class AppointmentNotBegun(Conflict):
    slug = "appointment-not-begun"
    title = Text(de="Termin hat noch nicht begonnen", en="Appointment has not begun")
    default_detail = Text(
        de="Als nicht erschienen gilt ein Termin erst ab seinem Beginn.",
        en="An appointment can be marked as a no-show only once it has begun.",
    )


class CounterNotAtBranch(AppointmentInputRefused):
    slug = "counter-not-at-branch"
    pointer = "#/counter_id"
    title = Text(de="Schalter nicht an diesem Standort", en="Counter not at this branch")
    default_detail = Text(
        de="Dieser Schalter gehört nicht zum Standort des Termins oder ist außer Betrieb.",
        en="This counter does not belong to the appointment's branch or is out of service.",
    )


class StatisticsRangeRefused(AppointmentInputRefused):
    slug = "statistics-range-refused"
    pointer = "#/query/to"
    title = Text(de="Ungültiger Zeitraum", en="Invalid date range")
    default_detail = Text(
        de="Der Zeitraum beginnt mit 'from', endet mit 'to' und umfasst höchstens 92 Tage.",
        en="The range starts at 'from', ends at 'to' and covers at most 92 days.",
    )
    only_ended_days: ClassVar[Text] = Text(
        de="Offene Daten gibt es nur für Tage, die schon vorbei sind: 'to' muss vor heute liegen.",
        en="Open data covers only days that have ended: 'to' must be before today.",
    )


class WalkInCapacityExhausted(Conflict):
    slug = "walk-in-capacity-exhausted"
    title = Text(de="Keine Wartenummern mehr für heute", en="No more tickets today")
    default_detail = Text(
        de="Die Zeit, die dieser Standort heute für Besuche ohne Termin hat, ist vergeben. "
        "Bitte buchen Sie online oder am Telefon einen Termin, oder kommen Sie an einem "
        "anderen Tag wieder.",
        en="The time this branch has for visits without an appointment today is taken. "
        "Please book an appointment online or by phone, or come back another day.",
    )

    def __init__(self, detail: Text | None = None) -> None:
        # The refusal is counted (the day's walk-ins turned away), so it keeps its change.
        super().__init__(detail, keeps_changes=True)


WALK_INS_CLOSED = Text(
    de="Der Standort nimmt heute keine Besuche ohne Termin mehr an (geschlossen, Feiertag "
    "oder nach der Öffnungszeit).",
    en="The branch takes no more visits without an appointment today (closed, a public "
    "holiday or after its opening hours).",
)


class TicketNotFound(NotFound):
    slug = "walk-in-ticket-not-found"
    title = Text(de="Wartenummer nicht gefunden", en="Ticket not found")
    default_detail = Text(
        de="Eine Wartenummer mit dieser Kennung gibt es nicht.",
        en="There is no walk-in ticket with this id.",
    )


class CounterNotFound(NotFound):
    slug = "counter-not-found"
    title = Text(de="Schalter nicht gefunden", en="Counter not found")
    default_detail = Text(
        de="Diesen Schalter gibt es an diesem Standort nicht, oder er ist außer Betrieb.",
        en="This branch has no such counter, or it is out of service.",
    )


class QueueEmpty(Conflict):
    slug = "queue-empty"
    title = Text(de="Niemand wartet", en="Nobody is waiting")
    default_detail = Text(
        de="Für diesen Schalter wartet gerade niemand, der aufgerufen werden kann.",
        en="Nobody who can be called to this counter is waiting right now.",
    )


class WaitingListEntryNotFound(NotFound):
    slug = "waiting-list-entry-not-found"
    title = Text(de="Eintrag nicht gefunden", en="Entry not found")
    default_detail = Text(
        de="Einen Eintrag auf der Warteliste mit dieser Kennung gibt es nicht.",
        en="There is no waiting-list entry with this id.",
    )


class WaitingListCredentialsMissing(Unauthorized):
    slug = "waiting-list-credentials-missing"
    title = Text(de="Zugang zum Eintrag fehlt", en="Access to the entry missing")
    default_detail = Text(
        de="Senden Sie den Schlüssel des Eintrags im Header 'Waiting-List-Token' oder melden "
        "Sie sich mit dem Online-Ausweis an.",
        en="Send the entry's token in the 'Waiting-List-Token' header, or sign in with the "
        "online ID card.",
    )


class WaitingListServiceMissing(AppointmentInputRefused):
    slug = "waiting-list-service-missing"
    pointer = "#/service_id"
    title = Text(de="Dienstleistung fehlt", en="Service missing")
    default_detail = Text(
        de="Nennen Sie die Dienstleistung oder den Termin, der vorverlegt werden soll.",
        en="Name the service, or the appointment that should be moved earlier.",
    )


class WaitingListContactRequired(AppointmentInputRefused):
    slug = "waiting-list-contact-required"
    pointer = "#/email"
    title = Text(de="E-Mail-Adresse fehlt", en="E-mail address missing")
    default_detail = Text(
        de="Wir brauchen Ihre E-Mail-Adresse, um Ihnen einen frei gewordenen Termin anzubieten.",
        en="We need your e-mail address to offer you a slot that has become free.",
    )


class LatestDayInPast(AppointmentInputRefused):
    slug = "latest-day-in-past"
    pointer = "#/latest_day"
    title = Text(de="Tag liegt in der Vergangenheit", en="Day is in the past")
    default_detail = Text(
        de="Der späteste Tag für einen angebotenen Termin darf nicht vor heute liegen.",
        en="The latest day for an offered slot must not be before today.",
    )


class BookingNotWaitlistable(Conflict):
    slug = "booking-not-waitlistable"
    title = Text(de="Termin kann nicht vorverlegt werden", en="Appointment cannot be moved up")
    default_detail = Text(
        de="Nur gebuchte Termine, die noch bevorstehen, können auf die Warteliste für einen "
        "früheren Termin.",
        en="Only confirmed appointments that are still ahead can wait for an earlier slot.",
    )


class WaitingListLimitReached(Conflict):
    slug = "waiting-list-limit-reached"
    title = Text(de="Zu viele Einträge auf der Warteliste", en="Too many waiting-list entries")

    def __init__(self, limit: int) -> None:
        super().__init__(
            Text(
                de=f"Sie stehen bereits {limit}-mal auf der Warteliste. Bitte nehmen Sie einen "
                "Eintrag zurück, bevor Sie einen weiteren anlegen.",
                en=f"You are already on the waiting list {limit} times. Please withdraw an "
                "entry before adding another.",
            ),
            extensions={"limit": limit},
        )


class WaitingListVerificationFailed(Conflict):
    slug = "waiting-list-verification-failed"
    title = Text(de="Eintrag nicht bestätigt", en="Entry not confirmed")
    default_detail = Text(
        de="Der Code wurde zu oft falsch eingegeben oder ist abgelaufen. Der Eintrag ist "
        "aufgehoben; bitte tragen Sie sich erneut ein.",
        en="The code was entered wrongly too often or has expired. The entry was removed; "
        "please join the waiting list again.",
    )

    def __init__(self) -> None:
        super().__init__(keeps_changes=True)


class OfferNotFound(NotFound):
    slug = "offer-not-found"
    title = Text(de="Angebot nicht gefunden", en="Offer not found")
    default_detail = Text(
        de="Dieses Angebot gibt es nicht, oder es gilt nicht mehr für Sie.",
        en="This offer does not exist, or it is no longer yours.",
    )


class OfferCredentialsMissing(Unauthorized):
    slug = "offer-credentials-missing"
    title = Text(de="Zugang zum Angebot fehlt", en="Access to the offer missing")
    default_detail = Text(
        de="Senden Sie den Schlüssel aus der E-Mail des Angebots im Header 'Offer-Token'.",
        en="Send the token from the offer's e-mail in the 'Offer-Token' header.",
    )


class OfferExpired(Conflict):
    slug = "offer-expired"
    title = Text(de="Angebot abgelaufen", en="Offer expired")
    default_detail = Text(
        de="Die Zeit, das Angebot anzunehmen, ist abgelaufen; der Termin wurde weitergegeben. "
        "Sie bleiben auf der Warteliste.",
        en="The time to accept the offer has passed; the slot was passed on. You stay on the "
        "waiting list.",
    )


class InvalidBlock(AppointmentInputRefused):
    slug = "invalid-block"
    pointer = "#/ends_at"
    title = Text(de="Ungültige Sperre", en="Invalid block")
    default_detail = Text(
        de="Eine Sperre endet nach ihrem Beginn.",
        en="A block ends after it begins.",
    )


class KioskNotAtBranch(Forbidden):
    slug = "kiosk-not-at-branch"
    title = Text(de="Ticketautomat eines anderen Standorts", en="Kiosk of another branch")
    default_detail = Text(
        de="Dieser Ticketautomat gibt nur Wartenummern seines eigenen Standorts aus.",
        en="This ticket kiosk draws tickets only at its own branch.",
    )
