"""Who may call a route, checked before anything the caller sent is validated.

A route declares its access with a dependency such as `Staff`, `Citizen` or
`ClientWith(ClientScope.…)`. The route class (`app.core.routing.RathausRoute`) finds that
declaration and runs it first: a request without a valid token gets 401, and a caller of the
wrong kind 403, whatever else is wrong with the request. Role and scope on the resource itself
are checked later, in the domain's service, with `Principal.has_role` and `Principal.visible`.

How a token becomes a principal is the identity package's business: it installs an
`Authenticator` on the app (`app.state.authenticator`).
"""

# No `from __future__ import annotations`: FastAPI reads `Access.__call__`'s annotations at
# run time, and an instance has no module globals to resolve strings against.
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from app.core.errors import Forbidden, Unauthorized
from app.core.i18n import Text
from app.core.principal import (
    ClientScope,
    LevelOfAssurance,
    Principal,
    PrincipalType,
    Role,
)


class InvalidAccessToken(Unauthorized):
    slug = "invalid-token"
    title = Text(de="Anmeldung ungültig", en="Invalid authentication")
    default_detail = Text(
        de="Das Zugangstoken fehlt, ist abgelaufen oder ungültig. Bitte melden Sie sich erneut an.",
        en="The access token is missing, expired or invalid. Please sign in again.",
    )

    def __init__(self, detail: Text | None = None, *, token_sent: bool = True) -> None:
        # RFC 6750 §3.1: no error code when the request carried no token at all.
        challenge = 'Bearer error="invalid_token"' if token_sent else 'Bearer realm="rathaus"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class InsufficientLevel(Forbidden):
    """Step-up (RFC 9470): the client starts a new login at `required_level`."""

    slug = "insufficient-level-of-assurance"
    title = Text(
        de="Höheres Vertrauensniveau erforderlich", en="Higher level of assurance required"
    )
    default_detail = Text(
        de="Für diese Aktion ist eine Anmeldung mit höherem Vertrauensniveau nötig, "
        "zum Beispiel mit der Online-Ausweisfunktion.",
        en="This action needs a sign-in at a higher level of assurance, "
        "for example with the online ID card.",
    )

    def __init__(self, required: LevelOfAssurance) -> None:
        super().__init__(
            headers={
                "WWW-Authenticate": 'Bearer error="insufficient_user_authentication", '
                f'acr_values="{required.eidas_uri}"'
            },
            extensions={"required_level": required.name},
        )


class WrongPrincipalType(Forbidden):
    slug = "wrong-principal"
    default_detail = Text(
        de="Diese Aktion steht Ihrer Art von Zugang nicht zur Verfügung.",
        en="This action is not available to your kind of access.",
    )


class MissingRole(Forbidden):
    slug = "missing-role"
    title = Text(de="Keine Berechtigung", en="Missing permission")
    default_detail = Text(
        de="Ihnen fehlt die nötige Rolle für diesen Fachbereich oder Standort.",
        en="You lack the role this department or branch requires.",
    )


class MissingScope(Forbidden):
    slug = "missing-scope"
    title = Text(de="Fehlende Berechtigung des Clients", en="Missing client scope")
    default_detail = Text(
        de="Dieser Client hat nicht die nötige Berechtigung (scope).",
        en="This client lacks the required scope.",
    )


class Authenticator(Protocol):
    async def authenticate(self, request: Request, token: str) -> Principal:
        """The principal behind a bearer token, or InvalidAccessToken."""
        ...


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="Access token from `POST /api/v1/auth/token`: a citizen's or staff member's "
    "after sign-in, or an integrator client's (client credentials).",
)


@dataclass(frozen=True, slots=True)
class Access:
    """Which principals may call a route. Used as a FastAPI dependency that returns the
    principal; the route class checks it before the request's input is validated."""

    types: frozenset[PrincipalType]
    level: LevelOfAssurance = LevelOfAssurance.low
    global_role: Role | None = None
    scope: ClientScope | None = None
    # One of these roles in some scope (a department, a branch, or global): routes whose
    # finer check needs the database refuse everybody without any of them before that.
    some_role: frozenset[Role] = frozenset()

    async def __call__(
        self,
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            principal = await self.check(request)
        return principal

    async def check(self, request: Request) -> Principal:
        """Authenticate the request's bearer token and authorise it for this route."""
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        if scheme.lower() != "bearer" or not token:
            raise InvalidAccessToken(token_sent=False)
        authenticator: Authenticator = request.app.state.authenticator
        principal = await authenticator.authenticate(request, token)
        self.authorize(principal)
        request.state.principal = principal
        return principal

    def authorize(self, principal: Principal) -> None:
        if principal.type not in self.types:
            raise WrongPrincipalType()
        if principal.type is PrincipalType.citizen and (
            principal.level is None or principal.level < self.level
        ):
            raise InsufficientLevel(self.level)
        if self.global_role is not None and not principal.has_role(self.global_role):
            raise MissingRole()
        if self.some_role and not principal.holds_any(self.some_role):
            raise MissingRole()
        # The scope is what a client needs; people are checked by their roles instead.
        if (
            self.scope is not None
            and principal.type is PrincipalType.client
            and self.scope not in principal.scopes
        ):
            raise MissingScope()

    @property
    def problems(self) -> tuple[type[Unauthorized | Forbidden], ...]:
        """The problems a route with this access can answer with, for its OpenAPI entry."""
        found: list[type[Unauthorized | Forbidden]] = [InvalidAccessToken]
        if len(self.types) < len(PrincipalType):
            found.append(WrongPrincipalType)
        if self.level > LevelOfAssurance.low:
            found.append(InsufficientLevel)
        if self.global_role is not None or self.some_role:
            found.append(MissingRole)
        if self.scope is not None:
            found.append(MissingScope)
        return tuple(found)


@dataclass(frozen=True, slots=True)
class OptionalAccess:
    """A route open to anonymous callers that treats a sent bearer token like `access` does:
    no `Authorization` header gives `None`, an invalid or unfit token 401 or 403."""

    access: Access

    async def __call__(
        self,
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal | None:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            principal = await self.check(request)
        return principal

    async def check(self, request: Request) -> Principal | None:
        if "authorization" not in request.headers:
            return None
        return await self.access.check(request)

    @property
    def problems(self) -> tuple[type[Unauthorized | Forbidden], ...]:
        return self.access.problems


def client_with(scope: ClientScope) -> Access:
    return Access(frozenset({PrincipalType.client}), scope=scope)


ANY_PRINCIPAL = Access(frozenset(PrincipalType))
CITIZEN = Access(frozenset({PrincipalType.citizen}))
SUBSTANTIAL_CITIZEN = Access(frozenset({PrincipalType.citizen}), LevelOfAssurance.substantial)
STAFF = Access(frozenset({PrincipalType.staff}))
ADMIN = Access(frozenset({PrincipalType.staff}), global_role=Role.admin)
CLIENT = Access(frozenset({PrincipalType.client}))

CurrentPrincipal = Annotated[Principal, Depends(ANY_PRINCIPAL)]
Citizen = Annotated[Principal, Depends(CITIZEN)]
SubstantialCitizen = Annotated[Principal, Depends(SUBSTANTIAL_CITIZEN)]
Staff = Annotated[Principal, Depends(STAFF)]
Admin = Annotated[Principal, Depends(ADMIN)]
Client = Annotated[Principal, Depends(CLIENT)]
OptionalCitizen = Annotated[Principal | None, Depends(OptionalAccess(CITIZEN))]
