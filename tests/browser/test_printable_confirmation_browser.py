"""The printable confirmation of a booking made by staff, as the clerk's browser shows and
prints it: axe-core finds no accessibility violation on screen or in print, and the printed
A4 page carries the reference, the time and the QR code."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from playwright.async_api import Browser
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.axe import axe_violations
from tests.fixtures.appointments import create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.factories import create_department

FRIDAY = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
STAFF = "/api/v1/appointments/staff/bookings"


async def test_the_printable_confirmation_is_accessible_on_screen_and_in_print(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    browser: Browser,
    axe_source: str,
) -> None:
    calendar = await create_calendar(session)
    calendar.branch.code = "hoerde"  # the branch of the dev-login persona `branch-hoerde`
    await create_department(session, code="33")
    await session.commit()
    stand_at(app, FRIDAY)
    clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    booked = await client.post(
        STAFF,
        json={
            "service_id": str(calendar.service.id),
            "branch_id": str(calendar.branch.id),
            "start": "2027-03-22T08:00:00+01:00",
            "name": "Erika Mustermann",
            "postal_address": {
                "street": "Hauptstraße 5",
                "postal_code": "44263",
                "city": "Dortmund",
            },
        },
        headers=clerk,
    )
    assert booked.status_code == 201, booked.text
    booking = booked.json()
    html = await client.get(f"{STAFF}/{booking['id']}/confirmation", headers=clerk)
    assert html.status_code == 200, html.text

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.set_content(html.text)
    assert await axe_violations(page, axe_source) == []
    await page.emulate_media(media="print")
    assert await axe_violations(page, axe_source) == []
    printed = await page.inner_text("body")
    assert booking["reference"] in printed
    assert "Montag, 22. März 2027" in printed
    assert await page.locator("svg").count() >= 1  # the QR code for check-in
    pdf = await page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    await page.close()
