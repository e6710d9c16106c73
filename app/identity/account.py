"""The citizen's own account: what is stored about them (Akteneinsicht, GDPR Art. 15/20),
their sessions (devices), and erasure."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import record
from app.core.auth import InvalidAccessToken
from app.core.db import rowcount, utcnow
from app.core.pagination import PageParams, SortOrder, paginate
from app.core.principal import Principal, PrincipalType
from app.identity.errors import SessionNotFound
from app.identity.models import AuthSession, CitizenAccount, CitizenAttribute
from app.identity.sessions import revoke_sessions_of

SESSION_ORDER = SortOrder([AuthSession.created_at.desc(), AuthSession.id.desc()])


def _sessions_of(principal: Principal) -> Select[Any]:
    return select(AuthSession).where(
        AuthSession.principal_type == PrincipalType.citizen.value,
        AuthSession.principal_id == principal.id,
    )


class AccountService:
    """The citizen's view of their own account: Akteneinsicht and GDPR rights."""

    async def account(self, session: AsyncSession, principal: Principal) -> CitizenAccount:
        account = await session.get(CitizenAccount, principal.id)
        if account is None:
            raise InvalidAccessToken()
        return account

    async def attributes(
        self, session: AsyncSession, account_id: uuid.UUID
    ) -> list[CitizenAttribute]:
        rows = await session.scalars(
            select(CitizenAttribute)
            .where(CitizenAttribute.account_id == account_id)
            .order_by(CitizenAttribute.name)
        )
        return list(rows)

    async def sessions(self, session: AsyncSession, principal: Principal) -> list[AuthSession]:
        """All of them, newest first, for the data export."""
        rows = await session.scalars(_sessions_of(principal).order_by(*SESSION_ORDER.order_by()))
        return list(rows)

    async def sessions_page(
        self, session: AsyncSession, principal: Principal, params: PageParams
    ) -> tuple[list[AuthSession], str | None]:
        """One page of them, newest first."""
        return await paginate(
            session, _sessions_of(principal), order_by=SESSION_ORDER, params=params
        )

    async def end_session(
        self, session: AsyncSession, principal: Principal, session_id: uuid.UUID
    ) -> None:
        """Sign out one device. Another citizen's session id is simply not found."""
        ended = await session.execute(
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.principal_type == PrincipalType.citizen.value,
                AuthSession.principal_id == principal.id,
            )
            .values(
                revoked_at=func.coalesce(AuthSession.revoked_at, utcnow()),
                revoked_reason=func.coalesce(AuthSession.revoked_reason, "signed_out_elsewhere"),
                provider_logout_hint=None,
            )
        )
        if rowcount(ended) != 1:
            raise SessionNotFound()
        await record(
            session, action="auth.session_ended", object_type="auth_session", object_id=session_id
        )

    async def delete(self, session: AsyncSession, principal: Principal) -> None:
        """Erase the account and its attributes; sessions end at once."""
        await revoke_sessions_of(session, PrincipalType.citizen, principal.id, "account_deleted")
        await session.execute(
            delete(CitizenAttribute).where(CitizenAttribute.account_id == principal.id)
        )
        await session.execute(delete(CitizenAccount).where(CitizenAccount.id == principal.id))
        await record(
            session, action="citizen.account_deleted", object_type="citizen", object_id=principal.id
        )


account_service = AccountService()
