"""The identity API, assembled from one module per idea (see `app/identity/routes/`)."""

from __future__ import annotations

from fastapi import APIRouter

from app.identity.routes import account, clients, sign_in, staff, stand_ins, tokens

router = APIRouter()
for part in (sign_in, tokens, account, staff, clients):
    router.include_router(part.router)

pages = APIRouter()
pages.include_router(tokens.pages)
pages.include_router(stand_ins.pages)
