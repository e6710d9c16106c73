"""An access token signed with our own key but with a claim of the wrong JSON type (a list or
an object where a string belongs) gets 401, never a 500: claims are compared only after
their type is checked.

The tokens carry the claims of a real, active session, re-signed by us with one claim
changed, so the odd type is the only reason left to refuse them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.identity.jwt import SigningKey
from tests.fixtures.auth import sign_in

ME = "/api/v1/me"

ODD_CLAIMS: dict[str, Any] = {
    "iss-list": {"iss": ["http://127.0.0.1:8000"]},
    "iss-object": {"iss": {"url": "http://127.0.0.1:8000"}},
    "iss-number": {"iss": 8000},
    "aud-object": {"aud": {"rathaus-api": True}},
    "aud-list-with-an-object": {"aud": ["rathaus-api", {"nested": "rathaus-api"}]},
    "azp-list": {"azp": ["rathaus-api"]},
    "sub-number": {"sub": 42},
    "sub-object": {"sub": {"id": 42}},
    "sid-list": {"sid": ["one", "two"]},
    "typ-object": {"typ": {"citizen": True}},
    "exp-list": {"exp": [4102444800]},
}


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


@pytest.mark.parametrize("change", ODD_CLAIMS.values(), ids=ODD_CLAIMS.keys())
async def test_our_token_with_a_claim_of_the_wrong_type_gets_401_problem(
    client: httpx.AsyncClient, app: FastAPI, change: dict[str, Any]
) -> None:
    signing_key: SigningKey = app.state.identity.signing_key
    genuine = (await sign_in(client)).access_token
    forged = signing_key.sign({**claims_of(genuine), **change})

    response = await client.get(ME, headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://rathaus.example/problems/invalid-token"


async def test_the_same_claims_re_signed_unchanged_are_accepted(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    signing_key: SigningKey = app.state.identity.signing_key
    genuine = (await sign_in(client)).access_token

    response = await client.get(
        ME, headers={"Authorization": f"Bearer {signing_key.sign(claims_of(genuine))}"}
    )

    assert response.status_code == 200, response.text
