"""The pages behind the links in citizens' e-mails, in headless Chromium: confirming the
address, seeing and cancelling the appointment, and a waiting-list offer. axe-core finds no
accessibility violation on any of them, on a phone's screen or a desktop's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from playwright.async_api import Browser
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.booking_service import link_signature
from app.appointments.models import CapacityReturn
from app.appointments.offers import offer_service
from app.appointments.waiting_list import WAITING_LIST
from app.core.config import Settings
from tests.browser.axe import axe_violations
from tests.fixtures.appointments import create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import book_with_eid, manage
from tests.fixtures.waiting_list import join, join_body, offer_link

FRIDAY = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


async def test_the_pages_behind_the_e_mail_links_pass_axe_core(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    browser: Browser,
    axe_source: str,
) -> None:
    calendar = await create_calendar(session)
    await session.commit()
    stand_at(app, FRIDAY)
    erika = await sign_in(client, "erika")
    booking = await book_with_eid(client, calendar, erika.access_token)
    kept = await book_with_eid(client, calendar, erika.access_token, "2027-03-22T08:10:00+01:00")
    anna = await join(client, join_body(calendar, "anna@example.org"))
    await WAITING_LIST.apply(session, uuid.UUID(anna.id), "verify")
    await session.commit()
    cancelled = await client.post(
        f"/api/v1/appointments/bookings/{booking['id']}/cancel",
        headers=manage(booking["manage_token"]),
    )
    assert cancelled.status_code == 200, cancelled.text
    returns_at = await session.scalar(select(CapacityReturn.returns_at))
    assert returns_at is not None
    await offer_service.return_capacity(session, returns_at, settings)
    await session.commit()
    offer_id, token = await offer_link(session, "anna@example.org")
    stand_at(app, returns_at)

    signature = link_signature(settings, uuid.UUID(kept["id"]))
    pages = {
        "verify": f"/appointments/bookings/{kept['id']}/verify?code=123456",
        "manage": f"/appointments/bookings/{kept['id']}?sig={signature}",
        "cancel": f"/appointments/bookings/{kept['id']}/cancel?sig={signature}",
        "offer": f"/appointments/offers/{offer_id}?token={token}",
    }
    found: dict[str, list[object]] = {}
    for name, path in pages.items():
        page_html = await client.get(path)
        assert page_html.status_code == 200, (name, page_html.text)
        for viewport in (PHONE, DESKTOP):
            page = await browser.new_page(viewport=viewport)
            await page.set_content(page_html.text)
            found[f"{name} {viewport['width']}"] = await axe_violations(page, axe_source)
            await page.close()

    assert found == {key: [] for key in found}
    # The check itself sees a violation where there is one.
    control = await browser.new_page()
    await control.set_content(
        '<html lang="de"><title>x</title><main><h1>x</h1><img src="x.png"></main>'
    )
    assert [v["id"] for v in await axe_violations(control, axe_source)] == ["image-alt"]
    await control.close()
    assert "Annehmen" in (await client.get(pages["offer"])).text
