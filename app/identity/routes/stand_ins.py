"""Pages of the development stand-ins: `mock-eid` for the eID service, `dev-login` for the
city's Keycloak. Both are refused in production, so their pages never answer there."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from app.core.routing import accepts_any_query, api_router
from app.identity.adapters.base import IdentityProvider
from app.identity.adapters.dev_login import STAFF_PERSONAS, DevLoginProvider
from app.identity.adapters.mock_eid import CHOICES, PERSONAS, MockEidProvider
from app.identity.context import IdentityContext, identity_context
from app.identity.errors import UnknownProvider
from app.identity.pages import choice_page

pages = api_router("identity", prefix="")

Context = Annotated[IdentityContext, Depends(identity_context)]


def _mock_provider(context: IdentityContext, provider_id: str) -> IdentityProvider:
    provider = context.registry.providers.get(provider_id)
    if provider is None:
        raise UnknownProvider()
    return provider


# Like a provider's authorize endpoint, the stand-ins take the whole authorization request.
@pages.get(
    "/mock-eid/authorize",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[Depends(accepts_any_query)],
)
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


@pages.get(
    "/dev-login/authorize",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[Depends(accepts_any_query)],
)
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
