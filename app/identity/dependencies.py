"""FastAPI dependencies: who is calling, and may they call this endpoint at all.

Endpoint-level checks here are coarse (type of principal, level, scope). Role and scope on
the resource itself are checked in each domain's service, with `Principal.has_role`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.audit import Actor, ActorType, current_actor, record
from app.core.db import Database
from app.core.middleware import route_template
from app.core.uow import get_uow
from app.identity.errors import (
    InsufficientLevel,
    InvalidAccessToken,
    MissingScope,
    WrongPrincipalType,
)
from app.identity.loa import LevelOfAssurance
from app.identity.principal import Principal, PrincipalType
from app.identity.service import IdentityContext, token_service

bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/token.")


def identity_context(request: Request) -> IdentityContext:
    context: IdentityContext = request.app.state.identity
    return context


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidAccessToken(token_sent=False)
    # A short read-only transaction of its own: the request's transaction starts only after
    # the Idempotency-Key is claimed, so a duplicate in flight is seen at once (409).
    database: Database = request.app.state.database
    async with database.session(read_only=True) as session:
        principal = await token_service.authenticate(
            session, identity_context(request), credentials.credentials
        )
    request.state.principal_key = principal.key
    actor_id = principal.client_id if principal.type is PrincipalType.client else str(principal.id)
    current_actor.set(Actor(ActorType(principal.type.value), actor_id))
    if principal.type is PrincipalType.client:
        _audit_client_call(request, principal)
    return principal


def _audit_client_call(request: Request, principal: Principal) -> None:
    """Integrators' calls are audited whether they succeed or not, in their own transaction."""
    database: Database = request.app.state.database
    uow = get_uow(request)

    async def write() -> None:
        async with database.transaction() as session:
            await record(
                session,
                action="client.call",
                object_type="api_client",
                object_id=principal.id,
                actor=Actor(ActorType.client, principal.client_id),
                summary={"method": request.method, "route": route_template(request.scope)},
            )

    uow.after_commit(write)
    uow.after_rollback(write)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_citizen(
    level: LevelOfAssurance = LevelOfAssurance.low,
) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.type is not PrincipalType.citizen:
            raise WrongPrincipalType()
        if principal.level is None or principal.level < level:
            raise InsufficientLevel(level)
        return principal

    return dependency


async def require_staff(principal: CurrentPrincipal) -> Principal:
    if principal.type is not PrincipalType.staff:
        raise WrongPrincipalType()
    return principal


def require_client(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.type is not PrincipalType.client:
            raise WrongPrincipalType()
        if scope not in principal.scopes:
            raise MissingScope()
        return principal

    return dependency


Citizen = Annotated[Principal, Depends(require_citizen())]
SubstantialCitizen = Annotated[Principal, Depends(require_citizen(LevelOfAssurance.substantial))]
Staff = Annotated[Principal, Depends(require_staff)]
