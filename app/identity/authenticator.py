"""Turns a bearer token into a principal for core's access checks (`app.core.auth`)."""

from __future__ import annotations

from fastapi import Request

from app.core.audit import record
from app.core.middleware import route_template
from app.core.principal import Principal, PrincipalType
from app.core.uow import get_uow
from app.identity.context import IdentityContext
from app.identity.tokens import token_service


class TokenAuthenticator:
    async def authenticate(self, request: Request, token: str) -> Principal:
        context: IdentityContext = request.app.state.identity
        # A short read-only transaction of its own: the request's transaction starts only after
        # the Idempotency-Key is claimed, so a duplicate in flight is seen at once (409).
        async with context.database.session(read_only=True) as session:
            principal = await token_service.authenticate(session, context, token)
        if principal.type is PrincipalType.client:
            _audit_client_call(request, context, principal)
        return principal


def _audit_client_call(request: Request, context: IdentityContext, principal: Principal) -> None:
    """Integrators' calls are audited whether they succeed or not, in their own transaction."""
    database = context.database

    async def write() -> None:
        async with database.transaction() as session:
            await record(
                session,
                action="client.call",
                object_type="api_client",
                object_id=principal.id,
                actor=principal.actor,
                summary={"method": request.method, "route": route_template(request.scope)},
            )

    uow = get_uow(request)
    uow.after_commit(write)
    uow.after_rollback(write)
