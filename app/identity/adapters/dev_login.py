"""`dev-login`: staff sign-in without Keycloak, for development only. Refused in production.

Each persona carries the groups the city's Keycloak would send, so role mapping is the same
code path as in production.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import httpx

from app.core.config import Settings
from app.core.principal import LevelOfAssurance
from app.identity.adapters.base import (
    IDENTITY_PROVIDERS,
    BeginResult,
    ChoiceCodes,
    FailureKind,
    IdentityFailure,
    KeepsNoProviderSession,
    LoginRequirements,
    LoginState,
    ProviderDescription,
    VerifiedIdentity,
)
from app.identity.attributes import Attribute, AttributeValue

DEV_ISSUER = "urn:rathaus:dev-login"


@dataclass(frozen=True)
class StaffPersona:
    id: str
    display_name: str
    email: str
    groups: tuple[str, ...]
    label_de: str
    label_en: str


STAFF_PERSONAS: tuple[StaffPersona, ...] = (
    StaffPersona(
        "clerk-jugendamt",
        "Sabine Sachbearbeiterin",
        "sabine@stadt.example",
        ("/rathaus/clerk/department/51",),
        "Sachbearbeiterin im Jugendamt (51)",
        "Clerk in the Youth Welfare Office (51)",
    ),
    StaffPersona(
        "supervisor-buergerdienste",
        "Peter Teamleiter",
        "peter@stadt.example",
        ("/rathaus/supervisor/department/33", "/rathaus/clerk/department/33"),
        "Teamleiter der Bürgerdienste (33)",
        "Supervisor in Citizen Services (33)",
    ),
    StaffPersona(
        "branch-hoerde",
        "Mehmet Schalter",
        "mehmet@stadt.example",
        ("/rathaus/branch_staff/branch/hoerde",),
        "Mitarbeiter am Standort Hörde",
        "Staff at the Hörde branch",
    ),
    StaffPersona(
        "admin",
        "Anna Administratorin",
        "anna@stadt.example",
        ("/rathaus/admin",),
        "Administratorin (alle Rechte)",
        "Administrator (all rights)",
    ),
)


def staff_persona(persona_id: str) -> StaffPersona | None:
    return next((p for p in STAFF_PERSONAS if p.id == persona_id), None)


class DevLoginProvider(KeepsNoProviderSession):
    def __init__(self, public_base_url: str, secret: str) -> None:
        self._base = public_base_url.rstrip("/")
        self._codes = ChoiceCodes("dev-login", secret)
        self.description = ProviderDescription(
            id="dev-login",
            display_name="Entwicklungs-Anmeldung für Mitarbeitende",
            protocol="mock",
            attributes=frozenset({Attribute.email}),
            max_level=LevelOfAssurance.substantial,
            issuers=frozenset({DEV_ISSUER}),
            for_staff=True,
        )

    def code_for(self, state: str, persona_id: str) -> str:
        return self._codes.issue(state, persona_id)

    async def begin(
        self, requirements: LoginRequirements, redirect_uri: str, ttl: timedelta
    ) -> BeginResult:
        state = LoginState.new(redirect_uri, requirements, ttl)
        return BeginResult(
            f"{self._base}/dev-login/authorize?{urlencode({'state': state.state})}", state
        )

    async def complete(self, callback: Mapping[str, str], state: LoginState) -> VerifiedIdentity:
        persona_id = self._codes.verify(callback.get("code", ""), state.state)
        chosen = staff_persona(persona_id)
        if chosen is None:
            raise IdentityFailure(FailureKind.invalid_response, "unknown staff persona")
        return VerifiedIdentity(
            issuer=DEV_ISSUER,
            subject=f"dev-{chosen.id}",
            level=LevelOfAssurance.substantial,
            attributes={Attribute.email: AttributeValue(chosen.email, LevelOfAssurance.low, False)},
            groups=chosen.groups,
            display_name=chosen.display_name,
        )


@IDENTITY_PROVIDERS.register("dev-login", dev_only=True)
def _dev_login(settings: Settings, _http: httpx.AsyncClient | None) -> DevLoginProvider:
    return DevLoginProvider(settings.public_base_url, settings.secret_key)
