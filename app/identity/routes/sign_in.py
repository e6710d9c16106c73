"""Starting a sign-in and the provider's callback, for citizens and for staff."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.responses import RedirectResponse

from app.core.errors import TooManyRequests
from app.core.principal import AssuranceLevel
from app.core.ratelimit import client_address, hit
from app.core.routing import accepts_any_query, api_router, problem_responses
from app.core.uow import WriteSession
from app.identity.attributes import Attribute
from app.identity.context import IdentityContext, identity_context
from app.identity.errors import InvalidLoginState, ReturnToNotAllowed, UnknownProvider
from app.identity.schemas import ProviderRead
from app.identity.sign_in import login_service

router = api_router("identity")

Context = Annotated[IdentityContext, Depends(identity_context)]
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
        examples=["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"],
    ),
]
ChallengeMethod = Annotated[
    Literal["S256"], Query(description="The PKCE method; only `S256` is accepted.")
]
ProviderId = Annotated[
    str,
    Path(
        max_length=50,
        description="A provider's `id` from the providers list.",
        examples=["mock-eid"],
    ),
]
ClientState = Annotated[
    str | None,
    Query(max_length=200, description="Your own value, returned unchanged with the result."),
]

REDIRECT: dict[int | str, dict[str, Any]] = {
    303: {"description": "Redirect; see the Location header."}
}


async def limit_sign_in_starts(request: Request, context: Context) -> None:
    """Every start keeps a login state in the database: at most
    RATHAUS_LOGIN_RATE_LIMIT_PER_MINUTE per address (429 with Retry-After)."""
    await hit(
        context.database,
        f"login:{client_address(request)}",
        limit=context.settings.login_rate_limit_per_minute,
    )


def _providers(context: IdentityContext, *, for_staff: bool) -> list[ProviderRead]:
    return [
        ProviderRead(
            id=d.id,
            display_name=d.display_name,
            protocol=d.protocol,
            max_level=AssuranceLevel.of(d.max_level),
            attributes=sorted(a.value for a in d.attributes),
        )
        for d in context.registry.descriptions(for_staff=for_staff)
    ]


@router.get(
    "/auth/providers",
    response_model=list[ProviderRead],
    summary="Sign-in providers for citizens",
    description="The providers a citizen can sign in with (the online ID card, BundID, …), "
    "with the highest level of assurance and the attributes each can assert. Show them as "
    "choices and start the sign-in with the chosen `id`.",
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
    "Exchange the code with your PKCE verifier at `POST /api/v1/auth/token`. Starts are "
    "rate-limited per address (429 with Retry-After).",
    responses={
        **REDIRECT,
        **problem_responses(UnknownProvider, ReturnToNotAllowed, TooManyRequests),
    },
    dependencies=[Depends(limit_sign_in_starts)],
)
async def login(
    provider: ProviderId,
    session: WriteSession,
    context: Context,
    return_to: ReturnTo,
    code_challenge: CodeChallenge,
    code_challenge_method: ChallengeMethod = "S256",
    state: ClientState = None,
    level: Annotated[
        AssuranceLevel, Query(description="Minimum level of assurance.")
    ] = AssuranceLevel.substantial,
    attributes: Annotated[list[Attribute], Query(description="Attributes to ask for.")] = [],  # noqa: B006
    required_attributes: Annotated[
        list[Attribute],
        Query(description="Attributes without which the sign-in fails (`missing_attribute`)."),
    ] = [],  # noqa: B006
) -> RedirectResponse:
    url = await login_service.start(
        session,
        context,
        provider_id=provider,
        for_staff=False,
        return_to=return_to,
        code_challenge=code_challenge,
        client_state=state,
        level=level.level,
        attributes=frozenset(attributes),
        required_attributes=frozenset(required_attributes),
    )
    return RedirectResponse(url, status_code=303)


@router.get(
    "/auth/{provider}/callback",
    response_class=RedirectResponse,
    status_code=303,
    summary="Provider callback of a citizen sign-in",
    description="Called by the browser coming back from the provider, never by a frontend "
    "directly. Redirects to the sign-in's `return_to` with `code` and `state`, or with "
    "`error` and `error_code`. A state that is unknown, expired or used gets 400.",
    responses={**REDIRECT, **problem_responses(UnknownProvider, InvalidLoginState)},
    dependencies=[Depends(accepts_any_query)],
)
async def callback(
    provider: ProviderId, request: Request, session: WriteSession, context: Context
) -> RedirectResponse:
    url = await login_service.finish(
        session, context, provider_id=provider, for_staff=False, callback=_callback_params(request)
    )
    return RedirectResponse(url, status_code=303)


@router.get(
    "/auth/staff/providers",
    response_model=list[ProviderRead],
    summary="Sign-in providers for staff",
    description="The city's staff sign-in (its Keycloak), for the clerk and branch "
    "frontends. Roles come from the provider's groups.",
)
async def list_staff_providers(context: Context) -> list[ProviderRead]:
    return _providers(context, for_staff=True)


@router.get(
    "/auth/staff/{provider}/login",
    response_class=RedirectResponse,
    status_code=303,
    summary="Start a staff sign-in",
    description="As the citizen sign-in, for staff: redirects to the staff provider and "
    "returns to `return_to` with `code` and `state`, or `error` and `error_code` "
    "(`missing_attribute` when the provider's groups grant no role here, `not_permitted` for a "
    "disabled account).",
    responses={
        **REDIRECT,
        **problem_responses(UnknownProvider, ReturnToNotAllowed, TooManyRequests),
    },
    dependencies=[Depends(limit_sign_in_starts)],
)
async def staff_login(
    provider: ProviderId,
    session: WriteSession,
    context: Context,
    return_to: ReturnTo,
    code_challenge: CodeChallenge,
    code_challenge_method: ChallengeMethod = "S256",
    state: ClientState = None,
) -> RedirectResponse:
    url = await login_service.start(
        session,
        context,
        provider_id=provider,
        for_staff=True,
        return_to=return_to,
        code_challenge=code_challenge,
        client_state=state,
        level=AssuranceLevel.low.level,
        attributes=frozenset({Attribute.email}),
        required_attributes=frozenset(),
    )
    return RedirectResponse(url, status_code=303)


@router.get(
    "/auth/staff/{provider}/callback",
    response_class=RedirectResponse,
    status_code=303,
    summary="Provider callback of a staff sign-in",
    description="Called by the browser coming back from the staff provider. Redirects to "
    "`return_to` with `code` and `state`, or with `error` and `error_code`.",
    responses={**REDIRECT, **problem_responses(UnknownProvider, InvalidLoginState)},
    dependencies=[Depends(accepts_any_query)],
)
async def staff_callback(
    provider: ProviderId, request: Request, session: WriteSession, context: Context
) -> RedirectResponse:
    url = await login_service.finish(
        session, context, provider_id=provider, for_staff=True, callback=_callback_params(request)
    )
    return RedirectResponse(url, status_code=303)


def _callback_params(request: Request) -> dict[str, str]:
    return {k: v[:2000] for k, v in request.query_params.items()}
