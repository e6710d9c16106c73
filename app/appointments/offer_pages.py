"""The page behind the link in an offer e-mail: the slot held for the citizen, with one
button to accept it and one to decline it. Opening the link changes nothing (mail scanners
open links too); only the forms act, as on the booking pages."""

from __future__ import annotations

import uuid
from datetime import datetime
from html import escape
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse

from app.appointments.calendar import BERLIN
from app.appointments.dependencies import AppSettings, Now
from app.appointments.offers import offer_service
from app.appointments.pages import booking_details, button_form, html_page, shown_page
from app.core.routing import api_router
from app.core.uow import ReadSession, WriteSession

offer_pages = api_router("appointments", prefix="/appointments/offers")

Token = Annotated[str, Query(alias="token", max_length=200)]
FormToken = Annotated[str, Form(alias="token", max_length=200)]


def _offer_details(offer: dict[str, Any]) -> str:
    start = datetime.fromisoformat(offer["start"]).astimezone(BERLIN)
    until = datetime.fromisoformat(offer["expires_at"]).astimezone(BERLIN)
    rows = [
        (
            "Dienstleistung",
            "Service",
            f"{offer['service_name']['de']} / {offer['service_name']['en']}",
        ),
        ("Datum", "Date", start.strftime("%d.%m.%Y")),
        ("Uhrzeit", "Time", start.strftime("%H:%M")),
        ("Ort", "Place", offer["branch_name"]),
        ("Reserviert bis", "Held until", until.strftime("%H:%M")),
    ]
    items = "\n".join(
        f'<dt>{escape(de)} <span class="en" lang="en">({escape(en)})</span></dt>'
        f"<dd>{escape(value)}</dd>"
        for de, en, value in rows
    )
    return f"<dl>\n{items}\n</dl>"


@offer_pages.get("/{offer_id}", response_class=HTMLResponse, include_in_schema=False)
async def offer_page(
    request: Request, offer_id: uuid.UUID, token: Token, session: ReadSession, now: Now
) -> HTMLResponse:
    async def show() -> HTMLResponse:
        offer = await offer_service.get(session, offer_id, token, now)
        moving = (
            "<p>Wenn Sie annehmen, wird Ihr bisheriger Termin auf diese Zeit verlegt.</p>"
            '<p class="en" lang="en">If you accept, your current appointment moves to this '
            "time.</p>"
            if offer["moves_booking_id"]
            else ""
        )
        accept = button_form(
            f"/appointments/offers/{offer_id}/accept", "token", token, "Annehmen", "Accept"
        )
        decline = button_form(
            f"/appointments/offers/{offer_id}/decline", "token", token, "Ablehnen", "Decline"
        )
        return html_page(
            "Früherer Termin frei",
            "Earlier slot free",
            _offer_details(offer) + moving + accept + decline,
        )

    return await shown_page(request, show)


@offer_pages.post("/{offer_id}/accept", response_class=HTMLResponse, include_in_schema=False)
async def accept_submit(
    request: Request,
    offer_id: uuid.UUID,
    token: FormToken,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> HTMLResponse:
    async def act() -> HTMLResponse:
        view, _ = await offer_service.accept(session, offer_id, token, now, settings)
        note = (
            "<p>Der Termin ist für Sie gebucht. Die Bestätigung mit dem Kalendereintrag ist "
            "unterwegs.</p>"
            '<p class="en" lang="en">The appointment is booked for you. The confirmation '
            "with the calendar entry is on its way.</p>"
        )
        return html_page("Termin gebucht", "Appointment booked", note + booking_details(view))

    return await shown_page(request, act)


@offer_pages.post("/{offer_id}/decline", response_class=HTMLResponse, include_in_schema=False)
async def decline_submit(
    request: Request,
    offer_id: uuid.UUID,
    token: FormToken,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> HTMLResponse:
    async def act() -> HTMLResponse:
        await offer_service.decline(session, offer_id, token, now, settings)
        note = (
            "<p>Sie haben den Termin abgelehnt; er geht an die nächste Person. Sie bleiben "
            f'auf der Warteliste. <a href="{escape(settings.public_base_url)}">Anderen '
            "Termin wählen</a></p>"
            '<p class="en" lang="en">You declined the slot; it goes to the next person. You '
            "stay on the waiting list.</p>"
        )
        return html_page("Angebot abgelehnt", "Offer declined", note)

    return await shown_page(request, act)
