"""The identity API, one router per idea (see `app/identity/routes/`)."""

from __future__ import annotations

from fastapi import APIRouter

from app.identity.routes import account, clients, sign_in, staff, stand_ins, tokens

# Included into the app one by one: a router nested in another costs every request a level
# of route matching.
routers: tuple[APIRouter, ...] = (
    sign_in.router,
    tokens.router,
    account.router,
    staff.router,
    clients.router,
    tokens.pages,
    stand_ins.pages,
)
