"""Sign-in through OpenID Connect: BundID behind the city's Keycloak for citizens, Keycloak for
staff, each played by an OpenID provider running inside the test (no network).

A login is driven as the browser and the frontend drive it: our login URL, the provider's
authorize page, our callback, `return_to` with a one-time code, the token endpoint, `/me`.
A refused ID token must end at `return_to` with an error and without a code.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.principal import LevelOfAssurance
from app.identity.adapters import oidc
from app.identity.adapters.base import FailureKind, IdentityFailure, LoginRequirements
from app.identity.adapters.oidc import OidcProvider
from app.identity.attributes import Attribute
from tests.fixtures.auth import RETURN_TO, Pkce, query_of
from tests.fixtures.factories import create_department
from tests.fixtures.oidc_flow import (
    ALL_ATTRIBUTES,
    BUNDID,
    BUNDID_CLIENT,
    BUNDID_FRONTEND_ISSUER,
    ERIKA,
    INSUFFICIENT,
    LEEWAY,
    REFUSED,
    STAFF_ISSUER,
    STATE,
    UNAVAILABLE,
    attribute_values,
    begin,
    bundid_answers,
    callback_url,
    come_back,
    path_and_query,
    profile,
    redeem,
    sign_in,
    start_identity_providers,
    with_query,
)
from tests.fixtures.openid_provider import (
    ABSENT,
    OpenIdProvider,
    OpKey,
    b64url,
    hmac_signed_with,
    serve,
    unsigned,
    with_payload_changed,
)

# Successful sign-in


async def test_bundid_login_via_keycloak_shows_mapped_attributes_at_level_substantial(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    tokens = await sign_in(client, bundid, ERIKA, attributes=ALL_ATTRIBUTES)

    assert tokens.body["level"] == "substantial"
    me = await profile(client, tokens)
    assert me["provider"] == "bundid"
    assert me["level"] == "substantial"
    assert attribute_values(me) == {
        "FamilyNames": "Mustermann",
        "GivenNames": "Erika",
        "BirthName": "Gabler",
        "DateOfBirth": "1964-08",
        "PlaceOfBirth": "Berlin",
        "PlaceOfResidence": {
            "street": "Heidestraße 17",
            "postal_code": "51147",
            "locality": "Köln",
            "country": "D",
        },
        "Nationality": "D",
    }
    assert {(a["level"], a["verified"]) for a in me["attributes"]} == {("substantial", True)}


async def test_provider_sees_pkce_nonce_acr_values_and_an_authenticated_client(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    login = await begin(client, bundid)
    await redeem(client, login, await come_back(client, bundid.log_in(login.state, ERIKA)))

    assert login.request.scope == ("openid", "profile")
    assert login.request.acr_values == (
        "http://eidas.europa.eu/LoA/substantial",
        "http://eidas.europa.eu/LoA/high",
    )
    assert login.request.code_challenge != login.pkce.challenge, "our own PKCE, not the app's"
    [exchange] = bundid.token_requests
    assert exchange.refusal is None
    assert exchange.client_auth == "client_secret_basic"
    assert exchange.form["redirect_uri"] == callback_url("bundid")


@pytest.mark.parametrize(
    ("acr", "requested", "level"),
    [
        ("STORK-QAA-Level-3", "substantial", "substantial"),
        ("STORK-QAA-Level-4", "high", "high"),
        ("http://eidas.europa.eu/LoA/substantial", "substantial", "substantial"),
        ("http://eidas.europa.eu/LoA/high", "high", "high"),
        ("http://bsi.bund.de/eid/loa/substantiell", "substantial", "substantial"),
        ("http://bsi.bund.de/eid/loa/hoch", "high", "high"),
        ("urn:stadt:vertrauensniveau:basis", "low", "low"),
    ],
)
async def test_acr_of_the_provider_becomes_the_sessions_level(
    client: httpx.AsyncClient, bundid: OpenIdProvider, acr: str, requested: str, level: str
) -> None:
    tokens = await sign_in(client, bundid, {**ERIKA, "acr": acr}, level=requested)

    assert tokens.body["level"] == level
    assert (await profile(client, tokens))["level"] == level


async def test_second_login_with_the_same_bpk2_reaches_the_same_account_with_new_names(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    first = await profile(client, await sign_in(client, bundid, ERIKA))
    renamed = {**ERIKA, "nachname": "Musterfrau", "sub": "another-keycloak-user-id"}
    second = await profile(client, await sign_in(client, bundid, renamed))
    someone_else = await profile(
        client, await sign_in(client, bundid, {**ERIKA, "bPK2": "bPK2:b3R0by1ub3JtYWxvCg=="})
    )

    assert second["id"] == first["id"]
    assert attribute_values(second)["FamilyNames"] == "Musterfrau"
    assert someone_else["id"] != first["id"]


@pytest.mark.parametrize(
    "accepted",
    [
        pytest.param(lambda now: {"exp": now - LEEWAY + 5}, id="expired-within-leeway"),
        pytest.param(lambda now: {"nbf": now + LEEWAY - 5}, id="not-before-within-leeway"),
        pytest.param(lambda now: {"iat": now + LEEWAY - 5}, id="issued-within-leeway-ahead"),
        pytest.param(lambda now: {"iss": BUNDID_FRONTEND_ISSUER}, id="issuer-on-allow-list"),
        pytest.param(lambda now: {"aud": [BUNDID_CLIENT, "broker"]}, id="audiences-with-azp"),
    ],
)
async def test_id_token_within_the_rules_signs_the_citizen_in(
    client: httpx.AsyncClient,
    bundid: OpenIdProvider,
    accepted: Callable[[int], dict[str, Any]],
) -> None:
    claims = {**ERIKA, **accepted(int(time.time()))}

    tokens = await sign_in(client, bundid, claims)

    assert (await profile(client, tokens))["level"] == "substantial"


async def test_claim_sent_as_null_is_treated_as_not_sent(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    tokens = await sign_in(
        client, bundid, {**ERIKA, "geburtsname": None}, attributes=("BirthName",)
    )

    assert "BirthName" not in attribute_values(await profile(client, tokens))


async def test_id_token_signed_with_the_providers_ec_key_signs_the_citizen_in(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    tokens = await sign_in(client, bundid, ERIKA, key=bundid.ec_key)

    assert tokens.body["level"] == "substantial"


# Staff


async def test_clerk_signs_in_with_keycloak_and_gets_the_roles_of_their_groups(
    client: httpx.AsyncClient, session: AsyncSession, staff_keycloak: OpenIdProvider
) -> None:
    department = await create_department(session, code="51", name_de="Jugendamt")
    login = await begin(client, staff_keycloak, "keycloak-staff", staff=True)
    claims = {
        "sub": "8f14e45f-ceea-467f-a0e6-5b0f3c2e1d7a",
        "name": "Max Sachbearbeiter",
        "email": "max.sachbearbeiter@stadt.example",
        "groups": [
            "/rathaus/clerk/department/51",
            "/rathaus/clerk/department/99",
            "/rathaus/wizard",
            "/kantine/essensausgabe",
        ],
    }
    result = await come_back(client, staff_keycloak.log_in(login.state, claims))
    tokens = await redeem(client, login, result)

    response = await client.get("/api/v1/staff/me", headers=tokens.headers)
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["display_name"] == "Max Sachbearbeiter"
    assert me["email"] == "max.sachbearbeiter@stadt.example"
    assert me["roles"] == [
        {"role": "clerk", "scope_type": "department", "scope_id": str(department.id)}
    ]
    assert login.request.acr_values == ()
    assert [r.client_auth for r in staff_keycloak.token_requests] == ["none"]


async def test_staff_name_longer_than_a_name_field_is_shortened_not_refused(
    client: httpx.AsyncClient, session: AsyncSession, staff_keycloak: OpenIdProvider
) -> None:
    await create_department(session, code="51")
    login = await begin(client, staff_keycloak, "keycloak-staff", staff=True)
    claims = {"sub": "long-name", "name": "M" * 500, "groups": ["/rathaus/clerk/department/51"]}
    tokens = await redeem(
        client, login, await come_back(client, staff_keycloak.log_in(login.state, claims))
    )

    me = await client.get("/api/v1/staff/me", headers=tokens.headers)

    assert me.status_code == 200, me.text
    assert me.json()["display_name"] == "M" * 200


async def test_staff_sign_in_without_a_name_keeps_the_name_from_before(
    client: httpx.AsyncClient, session: AsyncSession, staff_keycloak: OpenIdProvider
) -> None:
    await create_department(session, code="51")
    groups = ["/rathaus/clerk/department/51"]
    names = []
    for claims in (
        {"sub": "clerk-7", "name": "Max Sachbearbeiter", "groups": groups},
        {"sub": "clerk-7", "groups": groups},
    ):
        login = await begin(client, staff_keycloak, "keycloak-staff", staff=True)
        result = await come_back(client, staff_keycloak.log_in(login.state, claims))
        tokens = await redeem(client, login, result)
        me = await client.get("/api/v1/staff/me", headers=tokens.headers)
        names.append(me.json()["display_name"])

    assert names == ["Max Sachbearbeiter", "Max Sachbearbeiter"]


async def test_staff_member_without_a_rathaus_group_gets_missing_attribute_and_no_code(
    client: httpx.AsyncClient, staff_keycloak: OpenIdProvider
) -> None:
    login = await begin(client, staff_keycloak, "keycloak-staff", staff=True)
    claims = {"sub": "staff-without-roles", "groups": ["/kantine/essensausgabe"]}

    result = await come_back(client, staff_keycloak.log_in(login.state, claims))

    assert result == {"error": "access_denied", "error_code": "missing_attribute", "state": STATE}


async def test_staff_provider_is_not_offered_to_citizens(client: httpx.AsyncClient) -> None:
    citizen_providers = (await client.get("/api/v1/auth/providers")).json()
    staff_providers = (await client.get("/api/v1/auth/staff/providers")).json()
    login = await client.get(
        "/api/v1/auth/keycloak-staff/login",
        params={"return_to": RETURN_TO, "code_challenge": Pkce.new().challenge},
    )

    assert [p["id"] for p in citizen_providers] == ["bundid"]
    assert [p["id"] for p in staff_providers] == ["keycloak-staff"]
    assert login.status_code == 404


# Forged and broken ID tokens

Forgery = Callable[[OpenIdProvider, OpenIdProvider], dict[str, Any]]
"""(the provider, an attacker) → how `log_in` forges the ID token."""

FORGED_ID_TOKENS: dict[str, Forgery] = {
    **{
        f"alg-{alg}": lambda _op, _attacker, alg=alg: {"header": {"alg": alg}, "sign": unsigned}
        for alg in ("none", "None", "NONE", "nOnE")
    },
    "alg-none-without-kid": lambda _op, _attacker: {
        "header": {"alg": "none", "kid": ABSENT},
        "sign": unsigned,
    },
    "hs256-signed-with-the-public-key": lambda op, _attacker: {
        "header": {"alg": "HS256"},
        "sign": hmac_signed_with(op.signing_key.public_pem()),
    },
    "es256-claimed-for-the-rsa-key": lambda _op, _attacker: {"header": {"alg": "ES256"}},
    "rs256-claimed-for-the-ec-key": lambda op, _attacker: {
        "header": {"alg": "RS256", "kid": op.ec_key.kid},
    },
    "attacker-key-under-the-providers-kid": lambda op, attacker: {
        "key": attacker.signing_key,
        "header": {"kid": op.signing_key.kid},
    },
    "attacker-key-in-jwk-header": lambda op, attacker: {
        "key": attacker.signing_key,
        "header": {"kid": op.signing_key.kid, "jwk": attacker.signing_key.public_jwk()},
    },
    "attacker-key-in-jwk-header-with-its-kid": lambda _op, attacker: {
        "key": attacker.signing_key,
        "header": {"jwk": attacker.signing_key.public_jwk()},
    },
    "attacker-jwks-in-jku-header": lambda _op, attacker: {
        "key": attacker.signing_key,
        "header": {"jku": attacker.jwks_uri},
    },
    "attacker-certificate-in-x5u-header": lambda op, attacker: {
        "key": attacker.signing_key,
        "header": {"kid": op.signing_key.kid, "x5u": f"{attacker.issuer}/cert.pem"},
    },
    "attacker-certificate-in-x5c-header": lambda op, attacker: {
        "key": attacker.signing_key,
        "header": {"kid": op.signing_key.kid, "x5c": attacker.signing_key.certificate_chain()},
    },
    "payload-changed-after-signing": lambda op, _attacker: {
        "sign": with_payload_changed(op.signing_key.sign, bPK2="bPK2:c29tZWJvZHktZWxzZQ=="),
    },
    "signature-stripped": lambda op, _attacker: {
        "sign": lambda header, claims: op.signing_key.sign(header, claims).rsplit(".", 1)[0] + ".",
    },
    "critical-header-extension": lambda _op, _attacker: {
        "header": {"crit": ["b64"], "b64": False},
    },
}


@pytest.mark.parametrize("forgery", FORGED_ID_TOKENS.values(), ids=FORGED_ID_TOKENS.keys())
async def test_forged_id_token_returns_invalid_response_without_code(
    client: httpx.AsyncClient,
    bundid: OpenIdProvider,
    attacker: OpenIdProvider,
    forgery: Forgery,
) -> None:
    result = await bundid_answers(client, bundid, ERIKA, **forgery(bundid, attacker))

    assert result == REFUSED
    assert attacker.requests == Counter(), "keys are never fetched from where a token points"


ClaimChange = Callable[[int], dict[str, Any]]
"""The time now → claims that make the ID token unacceptable."""

BROKEN_CLAIMS: dict[str, ClaimChange] = {
    "another-issuer": lambda _now: {"iss": "https://id.evil.example/realms/buergerkonto"},
    "no-issuer": lambda _now: {"iss": ABSENT},
    "another-audience": lambda _now: {"aud": "another-client"},
    "no-audience": lambda _now: {"aud": ABSENT},
    "empty-audience-list": lambda _now: {"aud": []},
    "several-audiences-without-azp": lambda _now: {"aud": [BUNDID_CLIENT, "broker"], "azp": ABSENT},
    "several-audiences-azp-of-another-client": lambda _now: {
        "aud": [BUNDID_CLIENT, "broker"],
        "azp": "broker",
    },
    "azp-of-another-client": lambda _now: {"azp": "another-client"},
    "expired-just-beyond-leeway": lambda now: {"exp": now - LEEWAY - 5},
    "no-expiry": lambda _now: {"exp": ABSENT},
    "expiry-not-a-number": lambda now: {"exp": str(now + 300)},
    "not-before-just-beyond-leeway": lambda now: {"nbf": now + LEEWAY + 5},
    "issued-in-the-future": lambda now: {"iat": now + LEEWAY + 5},
    "no-issued-at": lambda _now: {"iat": ABSENT},
    "no-nonce": lambda _now: {"nonce": ABSENT},
    "no-bpk2-subject": lambda _now: {"bPK2": ABSENT},
    "empty-bpk2-subject": lambda _now: {"bPK2": ""},
    "overlong-bpk2-subject": lambda _now: {"bPK2": "bPK2:" + "A" * 300},
}


@pytest.mark.parametrize("change", BROKEN_CLAIMS.values(), ids=BROKEN_CLAIMS.keys())
async def test_id_token_with_broken_claims_returns_invalid_response_without_code(
    client: httpx.AsyncClient, bundid: OpenIdProvider, change: ClaimChange
) -> None:
    result = await bundid_answers(client, bundid, {**ERIKA, **change(int(time.time()))})

    assert result == REFUSED


async def test_id_token_with_the_nonce_of_another_login_returns_invalid_response(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    earlier = await begin(client, bundid)
    later = await begin(client, bundid)

    replayed = {**ERIKA, "nonce": earlier.request.nonce}
    result = await come_back(client, bundid.log_in(later.state, replayed))

    assert result == REFUSED


async def test_second_callback_for_the_same_login_gets_400_invalid_login_state(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    login = await begin(client, bundid)
    provider_redirect = bundid.log_in(login.state, ERIKA)
    first = await come_back(client, provider_redirect)

    replay = await client.get(path_and_query(provider_redirect))

    assert "code" in first
    assert replay.status_code == 400
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json()["type"].endswith("/invalid-login-state")
    assert len(bundid.token_requests) == 1, "the replayed code never reached the provider"


async def test_code_of_another_login_is_refused_by_the_providers_pkce_check(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    victim = await begin(client, bundid)
    own = await begin(client, bundid)
    redirect_with_own_code = bundid.log_in(own.state, ERIKA)

    result = await come_back(client, with_query(redirect_with_own_code, state=victim.state))

    assert result == REFUSED
    assert [r.refusal for r in bundid.token_requests] == ["invalid_grant"]


@pytest.mark.parametrize(
    "iss",
    [pytest.param(STAFF_ISSUER, id="another-providers-iss"), pytest.param(None, id="no-iss")],
)
async def test_callback_with_the_wrong_or_no_iss_is_refused_before_the_code_is_redeemed(
    client: httpx.AsyncClient, bundid: OpenIdProvider, iss: str | None
) -> None:
    login = await begin(client, bundid)

    result = await come_back(client, with_query(bundid.log_in(login.state, ERIKA), iss=iss))

    assert result == REFUSED
    assert bundid.token_requests == []


@pytest.mark.parametrize(
    "acr",
    [
        pytest.param("urn:unbekannt:vertrauensniveau", id="unknown-uri"),
        pytest.param(ABSENT, id="no-acr"),
        pytest.param("", id="empty"),
        pytest.param(3, id="number"),
        pytest.param(["http://eidas.europa.eu/LoA/high"], id="list"),
        pytest.param("STORK-QAA-Level-2", id="below-the-requested-level"),
    ],
)
async def test_unknown_or_too_low_acr_returns_insufficient_level_without_code(
    client: httpx.AsyncClient, bundid: OpenIdProvider, acr: object
) -> None:
    result = await bundid_answers(client, bundid, {**ERIKA, "acr": acr})

    assert result == INSUFFICIENT


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("access_denied", {"error": "access_denied", "error_code": "cancelled"}),
        ("temporarily_unavailable", UNAVAILABLE),
        ("server_error", UNAVAILABLE),
        ("login_required", REFUSED),
    ],
)
async def test_error_from_the_provider_reaches_the_frontend_without_code(
    client: httpx.AsyncClient, bundid: OpenIdProvider, error: str, expected: dict[str, str]
) -> None:
    login = await begin(client, bundid)

    result = await come_back(client, bundid.deny(login.state, error))

    assert result == {"state": STATE, **expected}


# Keys, caching and outages


async def test_unknown_kid_refetches_the_jwks_at_most_once_within_the_cooldown(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    first = await bundid_answers(client, bundid, ERIKA, header={"kid": "forged-1"})
    second = await bundid_answers(client, bundid, ERIKA, header={"kid": "forged-2"})

    assert first == second == REFUSED
    assert bundid.requests["jwks"] == 2, "one fetch, then one refetch for the unknown kid"


async def test_unknown_kid_may_refetch_the_jwks_again_after_the_cooldown(
    client: httpx.AsyncClient, bundid: OpenIdProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc, "UNKNOWN_KID_COOLDOWN_SECONDS", 0)

    await bundid_answers(client, bundid, ERIKA, header={"kid": "forged-1"})
    await bundid_answers(client, bundid, ERIKA, header={"kid": "forged-2"})

    assert bundid.requests["jwks"] == 3


async def test_concurrent_logins_with_unknown_kids_refetch_the_jwks_only_once(
    bundid: OpenIdProvider,
) -> None:
    requirements = LoginRequirements(LevelOfAssurance.substantial, frozenset(Attribute))

    async def forged_login(provider: OidcProvider, n: int) -> FailureKind:
        begun = await provider.begin(requirements, callback_url("bundid"), timedelta(minutes=5))
        await bundid.open_authorize_page(begun.redirect_url)
        redirect = bundid.log_in(begun.state.state, ERIKA, header={"kid": f"forged-{n}"})
        with pytest.raises(IdentityFailure) as failure:
            await provider.complete(query_of(redirect), begun.state)
        return failure.value.kind

    async with httpx.AsyncClient(transport=serve(bundid)) as http:
        provider = OidcProvider(BUNDID, http, leeway_seconds=LEEWAY)
        kinds = await asyncio.gather(*(forged_login(provider, n) for n in range(5)))

    assert kinds == [FailureKind.invalid_response] * 5
    assert bundid.requests["jwks"] == 2


async def test_rotated_keys_are_picked_up_and_the_retired_key_is_refused(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    retired = bundid.signing_key
    await sign_in(client, bundid, ERIKA)
    bundid.rotate_keys()

    after_rotation = await sign_in(client, bundid, ERIKA)
    with_retired_key = await bundid_answers(client, bundid, ERIKA, key=retired)

    assert after_rotation.body["level"] == "substantial"
    assert with_retired_key == REFUSED
    assert bundid.requests["jwks"] == 2


async def test_key_published_for_encryption_does_not_verify_signatures(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    encryption_key = OpKey.rsa("buergerkonto-enc", use="enc")
    bundid.keys.append(encryption_key)

    result = await bundid_answers(client, bundid, ERIKA, key=encryption_key)

    assert result == REFUSED


async def test_symmetric_key_published_in_the_jwks_does_not_verify_signatures(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    secret = b"shared-secret-of-the-provider-32b"
    bundid.extra_jwks.append({"kty": "oct", "kid": "hmac-1", "k": b64url(secret)})

    result = await bundid_answers(
        client,
        bundid,
        ERIKA,
        header={"alg": "HS256", "kid": "hmac-1"},
        sign=hmac_signed_with(secret),
    )

    assert result == REFUSED


async def test_malformed_jwks_entries_are_skipped_and_the_good_keys_used(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    bundid.extra_jwks += ["not-a-key", None, {"kty": "RSA", "kid": "broken", "n": "!", "e": "AQAB"}]

    tokens = await sign_in(client, bundid, ERIKA)

    assert tokens.body["level"] == "substantial"


async def test_jwks_outage_after_a_good_fetch_keeps_the_last_good_keys(
    client: httpx.AsyncClient, bundid: OpenIdProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in(client, bundid, ERIKA)
    bundid.failing.add("jwks")
    monkeypatch.setattr(oidc, "JWKS_TTL_SECONDS", 0)  # every login now tries a refresh

    tokens = await sign_in(client, bundid, ERIKA)

    assert tokens.body["level"] == "substantial"
    assert bundid.requests["jwks"] == 2, "the refresh was tried, and failed"


async def test_jwks_never_fetched_returns_provider_unavailable(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    bundid.failing.add("jwks")

    assert await bundid_answers(client, bundid, ERIKA) == UNAVAILABLE


async def test_discovery_down_on_a_fresh_worker_returns_provider_unavailable(
    app: FastAPI,
    client: httpx.AsyncClient,
    bundid: OpenIdProvider,
    provider_http: httpx.AsyncClient,
) -> None:
    login = await begin(client, bundid)
    provider_redirect = bundid.log_in(login.state, ERIKA)
    start_identity_providers(app, provider_http)
    bundid.failing.add("discovery")

    result = await come_back(client, provider_redirect)

    assert result == UNAVAILABLE
    assert bundid.token_requests == []


async def test_discovery_down_at_login_returns_to_the_frontend_with_provider_unavailable(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    bundid.failing.add("discovery")

    response = await client.get(
        "/api/v1/auth/bundid/login",
        params={"return_to": RETURN_TO, "code_challenge": Pkce.new().challenge, "state": STATE},
    )

    assert response.status_code == 303
    assert query_of(response.headers["location"]) == UNAVAILABLE


async def test_discovery_outage_after_a_good_fetch_keeps_the_cached_document(
    client: httpx.AsyncClient, bundid: OpenIdProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in(client, bundid, ERIKA)
    bundid.failing.add("discovery")
    monkeypatch.setattr(oidc, "DISCOVERY_TTL_SECONDS", 0)

    tokens = await sign_in(client, bundid, ERIKA)

    assert tokens.body["level"] == "substantial"
    assert bundid.requests["discovery"] == 3, "one good fetch, two failed refreshes"


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(lambda op: op.failing.add("token"), id="token-endpoint-503"),
        pytest.param(lambda op: setattr(op, "offline", True), id="provider-unreachable"),
    ],
)
async def test_token_endpoint_outage_returns_provider_unavailable(
    client: httpx.AsyncClient, bundid: OpenIdProvider, outage: Callable[[OpenIdProvider], None]
) -> None:
    login = await begin(client, bundid)
    provider_redirect = bundid.log_in(login.state, ERIKA)
    outage(bundid)

    assert await come_back(client, provider_redirect) == UNAVAILABLE
