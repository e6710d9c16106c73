"""The pages behind the links in booking e-mails: verify the address, see the appointment,
cancel it. Plain accessible HTML, German with English alongside, no script.

Opening a link never changes anything, because mail scanners open links too: each page
shows one button, and only the form it posts acts.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from html import escape
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.booking_service import BookingAccess, BookingView, booking_service
from app.appointments.calendar import BERLIN
from app.appointments.dependencies import AppSettings, Now
from app.appointments.repository import BOOKINGS
from app.appointments.schemas import CODE_PATTERN
from app.core.config import Settings
from app.core.errors import AppError
from app.core.i18n import Language
from app.core.pages import STYLE
from app.core.routing import api_router
from app.core.uow import ReadSession, WriteSession, get_uow

pages = api_router("appointments", prefix="/appointments/bookings")

Signature = Annotated[str, Query(alias="sig", max_length=64)]
FormSignature = Annotated[str, Form(alias="sig", max_length=64)]
Code = Annotated[str, Query(pattern=CODE_PATTERN)]
FormCode = Annotated[str, Form(pattern=CODE_PATTERN)]


def html_page(title_de: str, title_en: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{escape(title_de)}</title>
<style>{STYLE}dl{{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}}</style>
</head>
<body>
<main>
<h1>{escape(title_de)} <span class="en" lang="en">/ {escape(title_en)}</span></h1>
{body}
</main>
</body>
</html>
""",
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def booking_details(view: BookingView) -> str:
    booking = view.booking
    start = booking.starts_at.astimezone(BERLIN)
    label = BOOKINGS.labels[booking.status]
    rows = [
        ("Vorgangsnummer", "Reference", booking.reference),
        ("Dienstleistung", "Service", f"{view.service.name_de} / {view.service.name_en}"),
        ("Datum", "Date", start.strftime("%d.%m.%Y")),
        ("Uhrzeit", "Time", start.strftime("%H:%M")),
        ("Ort", "Place", f"{view.branch_name}, {view.address_line}"),
        ("Status", "Status", f"{label.de} / {label.en}"),
    ]
    items = "\n".join(
        f'<dt>{escape(de)} <span class="en" lang="en">({escape(en)})</span></dt>'
        f"<dd>{escape(value)}</dd>"
        for de, en, value in rows
    )
    return f"<dl>\n{items}\n</dl>"


def button_form(action: str, field: str, value: str, label_de: str, label_en: str) -> str:
    return (
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="{escape(field)}" value="{escape(value)}">'
        f'<button type="submit">{escape(label_de)} <span lang="en">/ {escape(label_en)}</span>'
        "</button></form>"
    )


async def shown_page(
    request: Request, action: Callable[[], Awaitable[HTMLResponse]]
) -> HTMLResponse:
    """The page, or the problem as a page: people follow these links, not programs. What a
    refusal itself changed (a wrong code counted) is kept, as the API keeps it."""
    try:
        return await action()
    except AppError as problem:
        if problem.keeps_changes:
            await get_uow(request).commit_refusal()
        body = (
            f"<p>{escape(problem.detail.get(Language.de))}</p>"
            f'<p class="en" lang="en">{escape(problem.detail.get(Language.en))}</p>'
        )
        return html_page(
            problem.title.get(Language.de), problem.title.get(Language.en), body, problem.status
        )


async def _offer_cancel(
    request: Request,
    booking_id: uuid.UUID,
    signature: str,
    session: AsyncSession,
    settings: Settings,
    *,
    asking: bool,
) -> HTMLResponse:
    """The appointment with one button that cancels it; `asking` when the citizen followed
    the cancel link rather than the one to the appointment."""

    async def show() -> HTMLResponse:
        access = BookingAccess(signature=signature)
        view = await booking_service.get(session, booking_id, access, settings)
        question = (
            "<p>Möchten Sie diesen Termin absagen?</p>"
            '<p class="en" lang="en">Do you want to cancel this appointment?</p>'
            if asking
            else ""
        )
        cancel = button_form(
            f"/appointments/bookings/{booking_id}/cancel",
            "sig",
            signature,
            "Termin absagen",
            "Cancel appointment",
        )
        titles = (
            ("Termin absagen", "Cancel appointment")
            if asking
            else ("Ihr Termin", "Your appointment")
        )
        return html_page(*titles, question + booking_details(view) + cancel)

    return await shown_page(request, show)


@pages.get("/{booking_id}", response_class=HTMLResponse, include_in_schema=False)
async def manage_page(
    request: Request,
    booking_id: uuid.UUID,
    signature: Signature,
    session: ReadSession,
    settings: AppSettings,
) -> HTMLResponse:
    return await _offer_cancel(request, booking_id, signature, session, settings, asking=False)


@pages.get("/{booking_id}/cancel", response_class=HTMLResponse, include_in_schema=False)
async def cancel_page(
    request: Request,
    booking_id: uuid.UUID,
    signature: Signature,
    session: ReadSession,
    settings: AppSettings,
) -> HTMLResponse:
    return await _offer_cancel(request, booking_id, signature, session, settings, asking=True)


@pages.post("/{booking_id}/cancel", response_class=HTMLResponse, include_in_schema=False)
async def cancel_submit(
    request: Request,
    booking_id: uuid.UUID,
    signature: FormSignature,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> HTMLResponse:
    async def act() -> HTMLResponse:
        access = BookingAccess(signature=signature)
        view = await booking_service.cancel(session, booking_id, access, now, settings)
        return html_page("Termin abgesagt", "Appointment cancelled", booking_details(view))

    return await shown_page(request, act)


@pages.get("/{booking_id}/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_page(booking_id: uuid.UUID, code: Code) -> HTMLResponse:
    intro = (
        "<p>Bitte bestätigen Sie Ihre E-Mail-Adresse, damit Ihr Termin gebucht wird.</p>"
        '<p class="en" lang="en">Please confirm your e-mail address to book your '
        "appointment.</p>"
    )
    button = button_form(
        f"/appointments/bookings/{booking_id}/verify",
        "code",
        code,
        "Termin verbindlich buchen",
        "Book the appointment",
    )
    return html_page("Termin bestätigen", "Confirm appointment", intro + button)


@pages.post("/{booking_id}/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_submit(
    request: Request,
    booking_id: uuid.UUID,
    code: FormCode,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> HTMLResponse:
    async def act() -> HTMLResponse:
        view = await booking_service.verify(session, booking_id, code, now, settings)
        note = (
            "<p>Ihr Termin ist gebucht. Die Bestätigung mit dem Kalendereintrag ist "
            "unterwegs.</p>"
            '<p class="en" lang="en">Your appointment is booked. The confirmation with the '
            "calendar entry is on its way.</p>"
        )
        return html_page("Termin gebucht", "Appointment booked", note + booking_details(view))

    return await shown_page(request, act)
