"""A provider's ID token, properly signed, with a claim of the wrong JSON type (a list or an
object where a string belongs) ends the sign-in at `return_to` with `invalid_response` and
without a code, never with a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.oidc_flow import BUNDID_CLIENT, BUNDID_ISSUER, ERIKA, REFUSED, bundid_answers
from tests.fixtures.openid_provider import OpenIdProvider

ODD_CLAIMS: dict[str, dict[str, Any]] = {
    "iss-list": {"iss": [BUNDID_ISSUER]},
    "iss-object": {"iss": {"issuer": BUNDID_ISSUER}},
    "aud-object": {"aud": {BUNDID_CLIENT: True}},
    "aud-list-with-an-object": {"aud": [BUNDID_CLIENT, {"client": BUNDID_CLIENT}]},
    "azp-list": {"azp": [BUNDID_CLIENT]},
    "nonce-list": {"nonce": ["a-nonce"]},
    "nonce-object": {"nonce": {"value": "a-nonce"}},
    "sub-number": {"sub": 42},
    "sub-object": {"sub": {"id": 42}},
    "bpk2-list": {"bPK2": [ERIKA["bPK2"]]},
}


@pytest.mark.parametrize("change", ODD_CLAIMS.values(), ids=ODD_CLAIMS.keys())
async def test_id_token_with_a_claim_of_the_wrong_type_returns_invalid_response_without_code(
    client: httpx.AsyncClient, bundid: OpenIdProvider, change: dict[str, Any]
) -> None:
    result = await bundid_answers(client, bundid, {**ERIKA, **change})

    assert result == REFUSED
