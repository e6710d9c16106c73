"""The signed-in citizen's own account: profile, export, sessions and erasure."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Citizen, SubstantialCitizen
from app.core.errors import InvalidCursor
from app.core.pagination import PageParams, page_params
from app.core.principal import AssuranceLevel, LevelOfAssurance, Principal
from app.core.routing import api_router, problem_responses
from app.core.uow import ReadSession, WriteSession
from app.identity.account import account_service
from app.identity.errors import SessionNotFound
from app.identity.models import AuthSession, CitizenAccount
from app.identity.schemas import (
    AttributeRead,
    DataExportRead,
    ProfileRead,
    SessionPage,
    SessionRead,
)

router = api_router("identity")


def _level(value: int) -> AssuranceLevel:
    return AssuranceLevel.of(LevelOfAssurance(value))


def _profile(
    account: CitizenAccount, principal: Principal, attributes: list[AttributeRead]
) -> ProfileRead:
    level = principal.level or LevelOfAssurance(account.level)
    return ProfileRead(
        id=account.id,
        provider=account.provider,
        level=AssuranceLevel.of(level),
        attributes=attributes,
    )


async def _attributes(session: AsyncSession, account_id: uuid.UUID) -> list[AttributeRead]:
    return [
        AttributeRead(name=a.name, value=a.value, level=_level(a.level), verified=a.verified)
        for a in await account_service.attributes(session, account_id)
    ]


def _session_read(auth_session: AuthSession) -> SessionRead:
    return SessionRead(
        id=auth_session.id,
        created_at=auth_session.created_at,
        expires_at=auth_session.expires_at,
        revoked_at=auth_session.revoked_at,
        level=_level(auth_session.level) if auth_session.level else None,
    )


@router.get(
    "/me",
    response_model=ProfileRead,
    summary="The signed-in citizen's profile, level and attributes",
    description="The account of the signed-in citizen: the provider they signed in with, the "
    "level of assurance of this sign-in, and the attributes the provider asserted (only those "
    "a service asked for).",
)
async def me(principal: Citizen, session: ReadSession) -> ProfileRead:
    account = await account_service.account(session, principal)
    return _profile(account, principal, await _attributes(session, account.id))


@router.get(
    "/me/export",
    response_model=DataExportRead,
    summary="Export everything stored about the signed-in citizen (GDPR Art. 15/20)",
    description="Needs level `substantial`; otherwise 403 with `required_level` (step-up).",
)
async def export_me(principal: SubstantialCitizen, session: ReadSession) -> DataExportRead:
    account = await account_service.account(session, principal)
    sessions = await account_service.sessions(session, principal)
    return DataExportRead(
        account=_profile(account, principal, await _attributes(session, account.id)),
        created_at=account.created_at,
        last_login_at=account.last_login_at,
        sessions=[_session_read(s) for s in sessions],
    )


@router.get(
    "/me/sessions",
    response_model=SessionPage,
    summary="The signed-in citizen's sessions (devices), newest first",
    description="Every session of the account, including ended ones of the last 30 days, so "
    "that a citizen can spot a sign-in that was not theirs and end it.",
    responses=problem_responses(InvalidCursor),
)
async def list_my_sessions(
    principal: Citizen, session: ReadSession, params: Annotated[PageParams, Depends(page_params)]
) -> SessionPage:
    sessions, next_cursor = await account_service.sessions_page(session, principal, params)
    return SessionPage(items=[_session_read(s) for s in sessions], next_cursor=next_cursor)


@router.delete(
    "/me/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    summary="Sign out one of the citizen's sessions, e.g. a lost phone",
    description="Ends the session at once, as signing out on that device would. Ending an "
    "ended session changes nothing; another person's session id gets 404.",
    responses=problem_responses(SessionNotFound),
)
async def end_my_session(
    session_id: Annotated[uuid.UUID, Path(description="A session's `id` from the list.")],
    principal: Citizen,
    session: WriteSession,
) -> Response:
    await account_service.end_session(session, principal, session_id)
    return Response(status_code=204)


@router.delete(
    "/me",
    status_code=204,
    response_class=Response,
    summary="Delete the signed-in citizen's account and attributes",
    description="Needs level `substantial`. Ends every session of the account.",
)
async def delete_me(principal: SubstantialCitizen, session: WriteSession) -> Response:
    await account_service.delete(session, principal)
    return Response(status_code=204)
