"""A faulty adapter cannot lower assurance: the core re-checks what every adapter returns.

The adapter here answers each callback with whatever identity the test gives it, whatever
the login asked for. The core must still refuse a level below the requirement or above what
the adapter can reach, a missing required attribute, an issuer off its allow-list and an
empty subject, and then issue no code and create no account.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.principal import LevelOfAssurance
from app.identity.adapters.base import (
    BeginResult,
    KeepsNoProviderSession,
    LoginRequirements,
    LoginState,
    ProviderDescription,
    VerifiedIdentity,
)
from app.identity.attributes import Attribute, AttributeValue
from app.identity.models import CitizenAccount
from app.identity.registry import ProviderRegistry
from tests.fixtures.auth import RETURN_TO, Pkce, query_of

ISSUER = "https://eid.faulty.example"
NAMES = {
    Attribute.family_names: AttributeValue("Mustermann", LevelOfAssurance.substantial),
    Attribute.given_names: AttributeValue("Erika", LevelOfAssurance.substantial),
}


class FaultyAdapter(KeepsNoProviderSession):
    """Says yes to every login with the identity it is told to return."""

    def __init__(self) -> None:
        self.description = ProviderDescription(
            id="faulty",
            display_name="Faulty eID",
            protocol="test",
            attributes=frozenset(Attribute),
            max_level=LevelOfAssurance.substantial,
            issuers=frozenset({ISSUER}),
        )
        self.answer = VerifiedIdentity(ISSUER, "subject-1", LevelOfAssurance.substantial, NAMES)

    async def begin(
        self, requirements: LoginRequirements, redirect_uri: str, ttl: timedelta
    ) -> BeginResult:
        state = LoginState.new(redirect_uri, requirements, ttl)
        return BeginResult(f"{ISSUER}/authorize?state={state.state}", state)

    async def complete(self, callback: Mapping[str, str], state: LoginState) -> VerifiedIdentity:
        return self.answer


@pytest.fixture
def adapter() -> FaultyAdapter:
    return FaultyAdapter()


@pytest.fixture
def app(app: FastAPI, adapter: FaultyAdapter) -> FastAPI:
    app.state.identity = dataclasses.replace(
        app.state.identity, registry=ProviderRegistry({"faulty": adapter})
    )
    return app


async def sign_in_with(client: httpx.AsyncClient, params: list[tuple[str, str]]) -> dict[str, str]:
    """What `return_to` receives after the faulty adapter answers."""
    start = await client.get(
        "/api/v1/auth/faulty/login",
        params=[("return_to", RETURN_TO), ("code_challenge", Pkce.new().challenge), *params],
    )
    assert start.status_code == 303, start.text
    state = query_of(start.headers["location"])["state"]
    back = await client.get("/api/v1/auth/faulty/callback", params={"state": state})
    assert back.status_code == 303, back.text
    assert back.headers["location"].startswith(RETURN_TO)
    return query_of(back.headers["location"])


async def accounts(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(CitizenAccount)) or 0)


async def test_honest_answer_signs_the_citizen_in(client: httpx.AsyncClient) -> None:
    result = await sign_in_with(client, [("level", "substantial")])

    assert set(result) == {"code"}


FAULTS = {
    "level-below-the-requirement": (
        [("level", "substantial")],
        {"level": LevelOfAssurance.low},
        "insufficient_level",
    ),
    "level-above-what-the-adapter-reaches": (
        [("level", "high")],
        {"level": LevelOfAssurance.high},
        "insufficient_level",
    ),
    "required-attribute-left-out": (
        [("level", "low"), ("required_attributes", "DateOfBirth")],
        {},
        "missing_attribute",
    ),
    "issuer-off-the-allow-list": (
        [("level", "low")],
        {"issuer": "https://eid.attacker.example"},
        "invalid_response",
    ),
    "empty-subject": ([("level", "low")], {"subject": ""}, "invalid_response"),
}


@pytest.mark.parametrize(("params", "fault", "error_code"), FAULTS.values(), ids=FAULTS.keys())
async def test_faulty_answer_is_refused_with_no_code_and_no_account(
    client: httpx.AsyncClient,
    session: AsyncSession,
    adapter: FaultyAdapter,
    params: list[tuple[str, str]],
    fault: dict[str, object],
    error_code: str,
) -> None:
    adapter.answer = dataclasses.replace(adapter.answer, **fault)  # type: ignore[arg-type]

    result = await sign_in_with(client, params)

    assert result == {"error": "access_denied", "error_code": error_code}
    assert await accounts(session) == 0
