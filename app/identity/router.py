from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus, urlencode

from fastapi import Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.ratelimit import hit
from app.core.routing import api_router, problem_responses
from app.core.uow import get_session
from app.identity.adapters.base import IdentityProvider
from app.identity.adapters.dev_login import STAFF_PERSONAS, DevLoginProvider
from app.identity.adapters.mock_eid import CHOICES, PERSONAS, MockEidProvider
from app.identity.attributes import Attribute
from app.identity.dependencies import (
    Citizen,
    CurrentPrincipal,
    Staff,
    SubstantialCitizen,
    identity_context,
)
from app.identity.errors import (
    ClientNotFound,
    InsufficientLevel,
    InvalidAccessToken,
    InvalidClient,
    InvalidGrant,
    InvalidLoginState,
    InvalidScope,
    MissingRole,
    ReturnToNotAllowed,
    SessionNotFound,
    UnknownProvider,
    UnsupportedGrantType,
    WrongPrincipalType,
)
from app.identity.loa import LevelOfAssurance
from app.identity.models import ApiClient, AuthSession, CitizenAccount, StaffUser
from app.identity.pages import choice_page
from app.identity.principal import Principal, Role
from app.identity.schemas import (
    AttributeRead,
    ClientCreate,
    ClientRead,
    ClientWithSecret,
    DataExportRead,
    ProfileRead,
    ProviderRead,
    RoleGrantRead,
    SessionRead,
    StaffProfileRead,
    TokenResponse,
)
from app.identity.service import (
    IdentityContext,
    TokenPair,
    account_service,
    client_service,
    login_service,
    token_service,
)

router = api_router("identity")
pages = api_router("identity", prefix="")

Session = Annotated[AsyncSession, Depends(get_session)]
Context = Annotated[IdentityContext, Depends(identity_context)]
LevelName = Literal["low", "substantial", "high"]
ReturnTo = Annotated[
    str,
    Query(
        max_length=500,
        description="Where the browser returns after sign-in: same scheme and host as an "
        "entry of `RATHAUS_AUTH_RETURN_TO_ALLOWLIST`, and a path under it.",
        examples=["http://localhost:3000/callback"],
    ),
]
CodeChallenge = Annotated[
    str,
    Query(
        pattern=r"^[A-Za-z0-9_-]{43}$",
        description="PKCE S256 challenge: base64url of the SHA-256 digest of your verifier, "
        "without padding (43 characters).",
    ),
]

REDIRECT: dict[int | str, dict[str, Any]] = {
    303: {"description": "Redirect; see the Location header."}
}


def _providers(context: IdentityContext, *, for_staff: bool) -> list[ProviderRead]:
    return [
        ProviderRead(
            id=d.id,
            display_name=d.display_name,
            protocol=d.protocol,
            max_level=d.max_level.name,
            attributes=sorted(a.value for a in d.attributes),
        )
        for d in context.registry.descriptions(for_staff=for_staff)
    ]


@router.get(
    "/auth/providers", response_model=list[ProviderRead], summary="Sign-in providers for citizens"
)
async def list_providers(context: Context) -> list[ProviderRead]:
    return _providers(context, for_staff=False)


@router.get(
    "/auth/{provider}/login",
    response_class=RedirectResponse,
    status_code=303,
    summary="Start a citizen sign-in",
    description="Redirects to the provider. After sign-in the browser returns to `return_to` "
    "with `code` and your `state`, or with `error` and `error_code` (`cancelled`, "
    "`insufficient_level`, `missing_attribute`, `invalid_response`, `provider_unavailable`). "
    "Exchange the code with your PKCE verifier at `POST /api/v1/auth/token`.",
    responses={**REDIRECT, **problem_responses(UnknownProvider, ReturnToNotAllowed)},
)
async def login(
    provider: str,
    session: Session,
    context: Context,
    return_to: ReturnTo,
    code_challenge: CodeChallenge,
    code_challenge_method: Annotated[Literal["S256"], Query()] = "S256",
    state: Annotated[str | None, Query(max_length=200, description="Returned unchanged.")] = None,
    level: Annotated[LevelName, Query(description="Minimum level of assurance.")] = "substantial",
    attributes: Annotated[list[Attribute], Query(description="Attributes to ask for.")] = [],  # noqa: B006
    required_attributes: Annotated[list[Attribute], Query()] = [],  # noqa: B006
) -> RedirectResponse:
    url = await login_service.start(
        session,
        context,
        provider_id=provider,
        for_staff=False,
        return_to=return_to,
        code_challenge=code_challenge,
        client_state=state,
        level=LevelOfAssurance[level],
        attributes=frozenset(attributes),
        required_attributes=frozenset(required_attributes),
    )
    return RedirectResponse(url, status_code=303)


@router.get(
    "/auth/{provider}/callback",
    response_class=RedirectResponse,
    status_code=303,
    summary="Provider callback of a citizen sign-in",
    responses={**REDIRECT, **problem_responses(UnknownProvider, InvalidLoginState)},
)
async def callback(
    provider: str, request: Request, session: Session, context: Context
) -> RedirectResponse:
    url = await login_service.finish(
        session, context, provider_id=provider, for_staff=False, callback=_callback_params(request)
    )
    return RedirectResponse(url, status_code=303)


@router.get(
    "/auth/staff/providers",
    response_model=list[ProviderRead],
    summary="Sign-in providers for staff",
)
async def list_staff_providers(context: Context) -> list[ProviderRead]:
    return _providers(context, for_staff=True)


@router.get(
    "/auth/staff/{provider}/login",
    response_class=RedirectResponse,
    status_code=303,
    summary="Start a staff sign-in",
    responses={**REDIRECT, **problem_responses(UnknownProvider, ReturnToNotAllowed)},
)
async def staff_login(
    provider: str,
    session: Session,
    context: Context,
    return_to: ReturnTo,
    code_challenge: CodeChallenge,
    code_challenge_method: Annotated[Literal["S256"], Query()] = "S256",
    state: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    url = await login_service.start(
        session,
        context,
        provider_id=provider,
        for_staff=True,
        return_to=return_to,
        code_challenge=code_challenge,
        client_state=state,
        level=LevelOfAssurance.low,
        attributes=frozenset({Attribute.email}),
        required_attributes=frozenset(),
    )
    return RedirectResponse(url, status_code=303)


@router.get(
    "/auth/staff/{provider}/callback",
    response_class=RedirectResponse,
    status_code=303,
    summary="Provider callback of a staff sign-in",
    responses={**REDIRECT, **problem_responses(UnknownProvider, InvalidLoginState)},
)
async def staff_callback(
    provider: str, request: Request, session: Session, context: Context
) -> RedirectResponse:
    url = await login_service.finish(
        session, context, provider_id=provider, for_staff=True, callback=_callback_params(request)
    )
    return RedirectResponse(url, status_code=303)


def _callback_params(request: Request) -> dict[str, str]:
    return {k: v[:2000] for k, v in request.query_params.items()}


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Exchange a code, refresh a session, or authenticate a client",
    description="OAuth 2.0 token endpoint (form-encoded). `authorization_code` needs `code` and "
    "`code_verifier`; `refresh_token` needs `refresh_token` (single use: the response has a "
    "new one, and reusing an old one ends the session); `client_credentials` needs the "
    "client's id and secret (HTTP Basic or form) and an optional `scope`. Attempts are "
    "rate-limited per address (429 with Retry-After).",
    responses=problem_responses(InvalidGrant, InvalidClient, UnsupportedGrantType, InvalidScope),
)
async def token(
    request: Request,
    session: Session,
    context: Context,
    response: Response,
    grant_type: Annotated[str, Form(max_length=50)],
    code: Annotated[str | None, Form(max_length=200)] = None,
    code_verifier: Annotated[str | None, Form(max_length=200)] = None,
    refresh_token: Annotated[str | None, Form(max_length=200)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[str | None, Form(max_length=500)] = None,
) -> TokenResponse:
    address = request.client.host if request.client else "unknown"
    await hit(
        context.database, f"token:{address}", limit=context.settings.token_rate_limit_per_minute
    )
    response.headers["Cache-Control"] = "no-store"
    pair = await _grant(
        session,
        context,
        request,
        grant_type,
        code,
        code_verifier,
        refresh_token,
        client_id,
        client_secret,
        scope,
    )
    return TokenResponse(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        level=pair.level.name if pair.level else None,
        scope=pair.scope,
    )


async def _grant(
    session: AsyncSession,
    context: IdentityContext,
    request: Request,
    grant_type: str,
    code: str | None,
    code_verifier: str | None,
    refresh_token: str | None,
    client_id: str | None,
    client_secret: str | None,
    scope: str | None,
) -> TokenPair:
    if grant_type == "authorization_code":
        return await token_service.exchange_code(session, context, code, code_verifier)
    if grant_type == "refresh_token":
        return await token_service.refresh(session, context, refresh_token)
    if grant_type == "client_credentials":
        basic_id, basic_secret = _basic_credentials(request)
        return await token_service.client_credentials(
            session, context, basic_id or client_id, basic_secret or client_secret, scope
        )
    raise UnsupportedGrantType()


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None, None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient() from exc
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise InvalidClient()
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    summary="Sign out: end this session and all its refresh tokens",
    responses=problem_responses(InvalidAccessToken),
)
async def logout(principal: CurrentPrincipal, session: Session) -> Response:
    await token_service.logout(session, principal)
    return Response(status_code=204)


def _profile(
    account: CitizenAccount, principal: Principal, attributes: list[AttributeRead]
) -> ProfileRead:
    level = principal.level or LevelOfAssurance(account.level)
    return ProfileRead(
        id=account.id, provider=account.provider, level=level.name, attributes=attributes
    )


async def _attributes(session: AsyncSession, account_id: uuid.UUID) -> list[AttributeRead]:
    return [
        AttributeRead(
            name=a.name,
            value=a.value,
            level=LevelOfAssurance(a.level).name,
            verified=a.verified,
        )
        for a in await account_service.attributes(session, account_id)
    ]


@router.get(
    "/me",
    response_model=ProfileRead,
    summary="The signed-in citizen's profile, level and attributes",
    responses=problem_responses(InvalidAccessToken, WrongPrincipalType),
)
async def me(principal: Citizen, session: Session) -> ProfileRead:
    account = await account_service.account(session, principal)
    return _profile(account, principal, await _attributes(session, account.id))


@router.get(
    "/me/export",
    response_model=DataExportRead,
    summary="Export everything stored about the signed-in citizen (GDPR Art. 15/20)",
    description="Needs level `substantial`; otherwise 403 with `required_level` (step-up).",
    responses=problem_responses(InvalidAccessToken, WrongPrincipalType, InsufficientLevel),
)
async def export_me(principal: SubstantialCitizen, session: Session) -> DataExportRead:
    account = await account_service.account(session, principal)
    sessions = await account_service.sessions(session, principal)
    return DataExportRead(
        account=_profile(account, principal, await _attributes(session, account.id)),
        created_at=account.created_at,
        last_login_at=account.last_login_at,
        sessions=[_session_read(s) for s in sessions],
    )


def _session_read(auth_session: AuthSession) -> SessionRead:
    return SessionRead(
        id=auth_session.id,
        created_at=auth_session.created_at,
        expires_at=auth_session.expires_at,
        revoked_at=auth_session.revoked_at,
        level=LevelOfAssurance(auth_session.level).name if auth_session.level else None,
    )


@router.get(
    "/me/sessions",
    response_model=list[SessionRead],
    summary="The signed-in citizen's sessions (devices), newest first",
    responses=problem_responses(InvalidAccessToken, WrongPrincipalType),
)
async def list_my_sessions(principal: Citizen, session: Session) -> list[SessionRead]:
    return [_session_read(s) for s in await account_service.sessions(session, principal)]


@router.delete(
    "/me/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    summary="Sign out one of the citizen's sessions, e.g. a lost phone",
    responses=problem_responses(InvalidAccessToken, WrongPrincipalType, SessionNotFound),
)
async def end_my_session(session_id: uuid.UUID, principal: Citizen, session: Session) -> Response:
    await account_service.end_session(session, principal, session_id)
    return Response(status_code=204)


@router.delete(
    "/me",
    status_code=204,
    response_class=Response,
    summary="Delete the signed-in citizen's account and attributes",
    description="Needs level `substantial`. Ends every session of the account.",
    responses=problem_responses(InvalidAccessToken, WrongPrincipalType, InsufficientLevel),
)
async def delete_me(principal: SubstantialCitizen, session: Session) -> Response:
    await account_service.delete(session, principal)
    return Response(status_code=204)


@router.get(
    "/staff/me",
    response_model=StaffProfileRead,
    summary="The signed-in staff member and their roles",
    responses=problem_responses(InvalidAccessToken, WrongPrincipalType),
)
async def staff_me(principal: Staff, session: Session) -> StaffProfileRead:
    user = await session.get(StaffUser, principal.id)
    if user is None:
        raise InvalidAccessToken()
    return StaffProfileRead(
        id=user.id,
        display_name=user.display_name,
        email=user.email,
        roles=[
            RoleGrantRead(role=g.role.value, scope_type=g.scope_type.value, scope_id=g.scope_id)
            for g in principal.grants
        ],
    )


def _require_admin(principal: Staff) -> Principal:
    if not principal.has_role(Role.admin):
        raise MissingRole()
    return principal


Admin = Annotated[Principal, Depends(_require_admin)]
ADMIN_PROBLEMS = (InvalidAccessToken, WrongPrincipalType, MissingRole)


def _client_read(client: ApiClient) -> ClientRead:
    return ClientRead(
        id=client.id,
        client_id=client.client_id,
        name=client.name,
        scopes=list(client.scopes),
        active=client.active,
        created_at=client.created_at,
        revoked_at=client.revoked_at,
    )


@router.get(
    "/admin/clients",
    response_model=list[ClientRead],
    summary="List integrator clients",
    responses=problem_responses(*ADMIN_PROBLEMS),
)
async def list_clients(_admin: Admin, session: Session) -> list[ClientRead]:
    return [_client_read(c) for c in await client_service.list(session)]


@router.post(
    "/admin/clients",
    response_model=ClientWithSecret,
    status_code=201,
    summary="Create an integrator client; the secret is shown once",
    responses=problem_responses(*ADMIN_PROBLEMS, InvalidScope),
)
async def create_client(
    body: ClientCreate, _admin: Admin, session: Session, response: Response
) -> ClientWithSecret:
    client, secret = await client_service.create(session, body.name, body.scopes)
    response.headers["Location"] = f"/api/v1/admin/clients/{client.id}"
    response.headers["Cache-Control"] = "no-store"
    return ClientWithSecret(**_client_read(client).model_dump(), client_secret=secret)


@router.get(
    "/admin/clients/{client_id}",
    response_model=ClientRead,
    summary="Get one integrator client",
    responses=problem_responses(*ADMIN_PROBLEMS, ClientNotFound),
)
async def get_client(client_id: uuid.UUID, _admin: Admin, session: Session) -> ClientRead:
    return _client_read(await client_service.get(session, client_id))


@router.post(
    "/admin/clients/{client_id}/secret",
    response_model=ClientWithSecret,
    summary="Issue a new secret; the old one stops working",
    responses=problem_responses(*ADMIN_PROBLEMS, ClientNotFound),
)
async def rotate_client_secret(
    client_id: uuid.UUID, _admin: Admin, session: Session
) -> ClientWithSecret:
    client, secret = await client_service.rotate_secret(session, client_id)
    return ClientWithSecret(**_client_read(client).model_dump(), client_secret=secret)


@router.delete(
    "/admin/clients/{client_id}",
    response_model=ClientRead,
    summary="Revoke a client; its tokens stop working at once",
    responses=problem_responses(*ADMIN_PROBLEMS, ClientNotFound),
)
async def revoke_client(client_id: uuid.UUID, _admin: Admin, session: Session) -> ClientRead:
    return _client_read(await client_service.revoke(session, client_id))


@router.get(
    "/clients/me",
    response_model=ClientRead,
    summary="The calling integrator client and its scopes",
    responses=problem_responses(InvalidAccessToken, WrongPrincipalType),
)
async def client_me(principal: CurrentPrincipal, session: Session) -> ClientRead:
    if principal.client_id is None:
        raise WrongPrincipalType()
    return _client_read(await client_service.get(session, principal.id))


@pages.get("/.well-known/jwks.json", summary="Public keys that sign our access tokens")
async def jwks(context: Context) -> dict[str, list[dict[str, str]]]:
    return {"keys": [context.signing_key.jwks_entry()]}


def _mock_provider(context: IdentityContext, provider_id: str) -> IdentityProvider:
    provider = context.registry.providers.get(provider_id)
    if provider is None:
        raise UnknownProvider()
    return provider


@pages.get("/mock-eid/authorize", response_class=HTMLResponse, include_in_schema=False)
async def mock_eid_page(
    context: Context, state: Annotated[str, Query(max_length=100)]
) -> HTMLResponse:
    _mock_provider(context, "mock-eid")
    choices = [(p.id, p.label_de, p.label_en) for p in PERSONAS]
    choices += [(value, de, en) for value, (de, en) in CHOICES.items()]
    return HTMLResponse(
        choice_page(
            title_de="Online-Ausweis (Testumgebung)",
            title_en="Online ID card (test environment)",
            intro_de="Diese Seite ersetzt in der Entwicklung den eID-Dienst. Wählen Sie eine Testperson.",
            intro_en="In development this page stands in for the eID service. Choose a test person.",
            action="/mock-eid/authorize",
            state=state,
            field="persona",
            choices=choices,
        )
    )


@pages.post(
    "/mock-eid/authorize", response_class=RedirectResponse, status_code=303, include_in_schema=False
)
async def mock_eid_choose(
    context: Context,
    persona: Annotated[str, Form(max_length=50)],
    state: Annotated[str, Form(max_length=100)],
) -> RedirectResponse:
    provider = _mock_provider(context, "mock-eid")
    assert isinstance(provider, MockEidProvider)
    code = provider.code_for(state, persona)
    target = context.callback_url("mock-eid", for_staff=False)
    return RedirectResponse(f"{target}?{_query(state=state, code=code)}", status_code=303)


@pages.get("/dev-login/authorize", response_class=HTMLResponse, include_in_schema=False)
async def dev_login_page(
    context: Context, state: Annotated[str, Query(max_length=100)]
) -> HTMLResponse:
    _mock_provider(context, "dev-login")
    return HTMLResponse(
        choice_page(
            title_de="Anmeldung für Mitarbeitende (Entwicklung)",
            title_en="Staff sign-in (development)",
            intro_de="Nur in der Entwicklung: wählen Sie eine Rolle.",
            intro_en="Development only: choose a role.",
            action="/dev-login/authorize",
            state=state,
            field="persona",
            choices=[
                (p.id, f"{p.display_name} – {p.label_de}", p.label_en) for p in STAFF_PERSONAS
            ],
        )
    )


@pages.post(
    "/dev-login/authorize",
    response_class=RedirectResponse,
    status_code=303,
    include_in_schema=False,
)
async def dev_login_choose(
    context: Context,
    persona: Annotated[str, Form(max_length=50)],
    state: Annotated[str, Form(max_length=100)],
) -> RedirectResponse:
    provider = _mock_provider(context, "dev-login")
    assert isinstance(provider, DevLoginProvider)
    code = provider.code_for(state, persona)
    target = context.callback_url("dev-login", for_staff=True)
    return RedirectResponse(f"{target}?{_query(state=state, code=code)}", status_code=303)


def _query(**params: str) -> str:
    return urlencode(params)
