"""`mock-eid`: a stand-in for an eID service, for development and tests. Refused in production.

Its authorize page lists personas; choosing one redirects to our callback with a code that
is an HMAC over state and persona, so a callback cannot name a persona the page did not issue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
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
from app.identity.attributes import Attribute, AttributeValue, normalise

MOCK_ISSUER = "urn:rathaus:mock-eid"


@dataclass(frozen=True)
class Persona:
    id: str
    label_de: str
    label_en: str
    level: LevelOfAssurance
    restricted_id: str
    attributes: Mapping[Attribute, Any] = field(default_factory=dict)


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "erika",
        "Erika Mustermann – Musterausweis des BSI, Vertrauensniveau hoch",
        "Erika Mustermann – BSI specimen ID card, level high",
        LevelOfAssurance.high,
        "mock-restricted-id-erika-mustermann",
        {
            Attribute.family_names: "Mustermann",
            Attribute.given_names: "Erika",
            Attribute.birth_name: "Gabler",
            Attribute.date_of_birth: "1964-08-12",
            Attribute.place_of_birth: "Berlin",
            Attribute.place_of_residence: {
                "street": "Heidestraße 17",
                "postal_code": "51147",
                "locality": "Köln",
                "country": "D",
            },
            Attribute.nationality: "D",
        },
    ),
    Persona(
        "jonas",
        "Jonas Beispiel – Anmeldung mit ELSTER-Zertifikat, Vertrauensniveau substanziell",
        "Jonas Beispiel – ELSTER certificate login, level substantial",
        LevelOfAssurance.substantial,
        "mock-restricted-id-jonas-beispiel",
        {
            Attribute.family_names: "Beispiel",
            Attribute.given_names: "Jonas",
            Attribute.date_of_birth: "1990-03-01",
            Attribute.place_of_residence: {
                "street": "Hansastraße 7",
                "postal_code": "44137",
                "locality": "Dortmund",
                "country": "D",
            },
            Attribute.email: "jonas.beispiel@example.org",
        },
    ),
    Persona(
        "mia",
        "Mia Musterfrau – Benutzername und Passwort (Basiskonto), Vertrauensniveau niedrig",
        "Mia Musterfrau – user name and password (basic account), level low",
        LevelOfAssurance.low,
        "mock-restricted-id-mia-musterfrau",
        {
            Attribute.family_names: "Musterfrau",
            Attribute.given_names: "Mia",
            Attribute.email: "mia.musterfrau@example.org",
        },
    ),
    Persona(
        "ayse",
        "Ayşe Demir – Geburtsdatum nur als Jahr bekannt, Vertrauensniveau hoch",
        "Ayşe Demir – date of birth known only as a year, level high",
        LevelOfAssurance.high,
        "mock-restricted-id-ayse-demir",
        {
            Attribute.family_names: "Demir",
            Attribute.given_names: "Ayşe",
            Attribute.date_of_birth: "19580000",
            Attribute.place_of_birth: "Izmir",
            Attribute.place_of_residence: {
                "street": "Mallinckrodtstraße 120",
                "postal_code": "44145",
                "locality": "Dortmund",
                "country": "D",
            },
            Attribute.nationality: "D",
        },
    ),
    Persona(
        "lukas",
        "Lukas Schmidt – ohne Wohnanschrift in Deutschland, Vertrauensniveau hoch",
        "Lukas Schmidt – no address in Germany, level high",
        LevelOfAssurance.high,
        "mock-restricted-id-lukas-schmidt",
        {
            Attribute.family_names: "Schmidt",
            Attribute.given_names: "Lukas",
            Attribute.date_of_birth: "1985-11-23",
            Attribute.place_of_birth: "Dortmund",
            Attribute.nationality: "D",
        },
    ),
)

CANCEL = "cancel"
PROVIDER_ERROR = "provider-error"
CHOICES: dict[str, tuple[str, str]] = {
    CANCEL: ("Anmeldung abbrechen", "Cancel the sign-in"),
    PROVIDER_ERROR: ("Fehler des eID-Dienstes simulieren", "Simulate an eID service error"),
}


def persona(persona_id: str) -> Persona | None:
    return next((p for p in PERSONAS if p.id == persona_id), None)


class MockEidProvider(KeepsNoProviderSession):
    def __init__(self, public_base_url: str, secret: str) -> None:
        self._base = public_base_url.rstrip("/")
        self._codes = ChoiceCodes("mock-eid", secret)
        self.description = ProviderDescription(
            id="mock-eid",
            display_name="Online-Ausweis (Test)",
            protocol="mock",
            attributes=frozenset(Attribute),
            max_level=LevelOfAssurance.high,
            issuers=frozenset({MOCK_ISSUER}),
        )

    def code_for(self, state: str, choice: str) -> str:
        return self._codes.issue(state, choice)

    async def begin(
        self, requirements: LoginRequirements, redirect_uri: str, ttl: timedelta
    ) -> BeginResult:
        state = LoginState.new(redirect_uri, requirements, ttl)
        query = urlencode({"state": state.state, "level": requirements.level.name})
        return BeginResult(f"{self._base}/mock-eid/authorize?{query}", state)

    async def complete(self, callback: Mapping[str, str], state: LoginState) -> VerifiedIdentity:
        choice = self._codes.verify(callback.get("code", ""), state.state)
        if choice == CANCEL:
            raise IdentityFailure(FailureKind.cancelled, "user cancelled at mock-eid")
        if choice == PROVIDER_ERROR:
            raise IdentityFailure(FailureKind.provider_unavailable, "simulated provider error")
        chosen = persona(choice)
        if chosen is None:
            raise IdentityFailure(FailureKind.invalid_response, "unknown persona")
        wanted = state.requirements.attributes
        attributes = {
            name: AttributeValue(normalise(name, raw), chosen.level)
            for name, raw in chosen.attributes.items()
            if name in wanted
        }
        return VerifiedIdentity(
            issuer=MOCK_ISSUER,
            subject=chosen.restricted_id,
            level=chosen.level,
            attributes=attributes,
            display_name=f"{chosen.attributes.get(Attribute.given_names, '')} "
            f"{chosen.attributes.get(Attribute.family_names, '')}".strip(),
        )


@IDENTITY_PROVIDERS.register("mock-eid", dev_only=True)
def _mock_eid(settings: Settings, _http: httpx.AsyncClient | None) -> MockEidProvider:
    return MockEidProvider(settings.public_base_url, settings.secret_key)
