"""`jwt.verify` on its own: every algorithm we list, each key only with its pinned one, and
the bound on a token's size that the caller may raise for large ID tokens."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from app.identity.jwt import SUPPORTED_ALGORITHMS, InvalidToken, VerificationKey, verify
from tests.fixtures.openid_provider import OpKey, b64url

ISSUER = "https://id.stadt.example/realms/rathaus"
AUDIENCE = "rathaus-sachbearbeitung"
CURVES: dict[str, tuple[str, ec.EllipticCurve, hashes.HashAlgorithm]] = {
    "ES256": ("P-256", ec.SECP256R1(), hashes.SHA256()),
    "ES384": ("P-384", ec.SECP384R1(), hashes.SHA384()),
    "ES512": ("P-521", ec.SECP521R1(), hashes.SHA512()),
}


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "clerk-7", "iat": now, "exp": now + 60, **extra}


def header(key: OpKey, **extra: Any) -> dict[str, Any]:
    return {"alg": key.alg, "kid": key.kid, "typ": "JWT", **extra}


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def verification_key(key: OpKey) -> VerificationKey:
    published = VerificationKey.from_jwk(key.public_jwk())
    assert published is not None
    return published


def verified(token: str, key: VerificationKey, **options: Any) -> dict[str, Any]:
    return verify(token, [key], issuer=ISSUER, audience=AUDIENCE, leeway_seconds=0, **options)


class EcKey:
    """An EC key on any of the three curves, signing as JWS requires (R || S)."""

    def __init__(self, alg: str) -> None:
        self.alg = alg
        self.crv, curve, self.hash = CURVES[alg]
        self.private = ec.generate_private_key(curve)
        self.size = (curve.key_size + 7) // 8

    def jwk(self) -> dict[str, str]:
        point = self.private.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": self.crv,
            "kid": self.alg,
            "x": b64url(point.x.to_bytes(self.size, "big")),
            "y": b64url(point.y.to_bytes(self.size, "big")),
        }

    def sign(self, token_claims: dict[str, Any]) -> str:
        signing_input = (
            f"{b64url_json({'alg': self.alg, 'kid': self.alg})}.{b64url_json(token_claims)}"
        )
        der = self.private.sign(signing_input.encode(), ec.ECDSA(self.hash))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(self.size, "big") + s.to_bytes(self.size, "big")
        return f"{signing_input}.{b64url(raw)}"


def test_every_listed_algorithm_is_one_a_key_can_be_pinned_to() -> None:
    rsa = [verification_key(OpKey.rsa_pss("k", alg)).algorithm for alg in SUPPORTED_ALGORITHMS[:6]]
    ec_keys = [VerificationKey.from_jwk(EcKey(alg).jwk()) for alg in CURVES]

    assert rsa + [k.algorithm for k in ec_keys if k] == list(SUPPORTED_ALGORITHMS)


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_rsa_token_verifies_with_the_key_pinned_to_its_algorithm_only(alg: str) -> None:
    key = OpKey.rsa_pss("rsa-key", alg)
    token = key.sign(header(key), claims())
    others = [a for a in SUPPORTED_ALGORITHMS[:6] if a != alg]

    assert verified(token, verification_key(key))["sub"] == "clerk-7"
    for other in others:
        with pytest.raises(InvalidToken):
            verified(token, verification_key(OpKey.rsa_pss("rsa-key", other)))


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ec_token_with_r_and_s_verifies_on_every_curve(alg: str) -> None:
    key = EcKey(alg)
    published = VerificationKey.from_jwk(key.jwk())
    assert published is not None

    assert verified(key.sign(claims()), published)["sub"] == "clerk-7"


def test_pss_signature_of_another_payload_is_refused() -> None:
    key = OpKey.rsa_pss("pss-key", "PS256")
    genuine = key.sign(header(key), claims())
    other = key.sign(header(key), claims(sub="someone-else"))
    spliced = genuine.rpartition(".")[0] + "." + other.rpartition(".")[2]

    with pytest.raises(InvalidToken):
        verified(spliced, verification_key(key))


def test_signature_with_characters_outside_base64url_is_refused() -> None:
    key = OpKey.rsa("rsa-key")
    token = key.sign(header(key), claims())

    with pytest.raises(InvalidToken):
        verified(token[:-4] + "+/==", verification_key(key))


def test_large_token_verifies_only_when_the_caller_allows_its_size() -> None:
    key = OpKey.rsa("keycloak-rsa")
    groups = [f"/rathaus/amt-{n:04d}/sachbearbeitung" for n in range(1200)]
    token = key.sign(header(key), claims(groups=groups))
    assert 40 * 1024 <= len(token) <= 65_536

    assert verified(token, verification_key(key), max_bytes=65_536)["groups"] == groups
    with pytest.raises(InvalidToken, match="not a compact JWS"):
        verified(token, verification_key(key))
