"""Every signing algorithm we list is verified, each key only with the one it is pinned to.

eIDAS nodes sign with RSA-PSS (PS256 …): a citizen signing in through such a provider must
get in, and a PSS signature must never pass for a PKCS #1 v1.5 one or the other way round.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fixtures.oidc_flow import (
    ERIKA,
    REFUSED,
    bundid_answers,
    profile,
    sign_in,
)
from tests.fixtures.openid_provider import OpenIdProvider, OpKey, Signer, b64url

# Signing in with RSA-PSS


@pytest.mark.parametrize("alg", ["PS256", "PS384", "PS512"])
async def test_citizen_signs_in_through_a_provider_signing_with_rsa_pss(
    client: httpx.AsyncClient, bundid: OpenIdProvider, alg: str
) -> None:
    bundid.keys = [OpKey.rsa_pss(f"buergerkonto-{alg.lower()}", alg)]

    tokens = await sign_in(client, bundid, ERIKA)

    assert tokens.body["level"] == "substantial"
    assert (await profile(client, tokens))["provider"] == "bundid"


async def test_pss_signed_token_under_the_kid_of_an_rs256_key_is_refused(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    rs256 = bundid.signing_key
    same_key_as_pss = OpKey.rsa_pss(rs256.kid, "PS256")

    claimed_ps256 = await bundid_answers(client, bundid, ERIKA, key=same_key_as_pss)
    claimed_rs256 = await bundid_answers(
        client, bundid, ERIKA, key=same_key_as_pss, header={"alg": "RS256"}
    )

    assert claimed_ps256 == REFUSED
    assert claimed_rs256 == REFUSED


async def test_pkcs1_signed_token_under_the_kid_of_a_ps256_key_is_refused(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    ps256 = OpKey.rsa_pss("buergerkonto-ps256", "PS256")
    bundid.keys = [ps256]
    same_key_as_rs256 = OpKey.rsa(ps256.kid)

    claimed_rs256 = await bundid_answers(client, bundid, ERIKA, key=same_key_as_rs256)
    claimed_ps256 = await bundid_answers(
        client, bundid, ERIKA, key=same_key_as_rs256, header={"alg": "PS256"}
    )

    assert claimed_rs256 == REFUSED
    assert claimed_ps256 == REFUSED


def with_signature_flipped(signer: Signer) -> Signer:
    def sign(header: dict[str, Any], claims: dict[str, Any]) -> str:
        signing_input, _, signature = signer(header, claims).rpartition(".")
        flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
        return f"{signing_input}.{flipped}"

    return sign


async def test_pss_token_with_a_tampered_signature_is_refused(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    ps256 = OpKey.rsa_pss("buergerkonto-ps256", "PS256")
    bundid.keys = [ps256]

    result = await bundid_answers(client, bundid, ERIKA, sign=with_signature_flipped(ps256.sign))

    assert result == REFUSED


async def test_es256_signature_in_der_form_instead_of_r_and_s_is_refused(
    client: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    key = bundid.ec_key
    assert isinstance(key.private, ec.EllipticCurvePrivateKey)
    private = key.private

    def der_signed(header: dict[str, Any], claims: dict[str, Any]) -> str:
        signing_input = key.sign(header, claims).rpartition(".")[0]
        der = private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        return f"{signing_input}.{b64url(der)}"

    genuine = await sign_in(client, bundid, ERIKA, key=key)
    with_der = await bundid_answers(client, bundid, ERIKA, key=key, sign=der_signed)

    assert genuine.body["level"] == "substantial"
    assert with_der == REFUSED
