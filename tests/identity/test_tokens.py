"""Forged, tampered and out-of-date access tokens get 401, and our JWKS publishes only our key.

Every forged token carries the claims of a real, active session: the only reason left to
refuse it is the forgery itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from jose import jws

from app.identity.jwt import SigningKey
from tests.fixtures.auth import Tokens, sign_in

ME = "/api/v1/me"
STAFF_ME = "/api/v1/staff/me"
JWKS = "/.well-known/jwks.json"
ATTACKER_JWKS = "https://attacker.example/jwks.json"
ATTACKER_CERT = "https://attacker.example/cert.pem"
HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
RSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
}
Signer = Callable[[bytes], bytes]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(dict(value), separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64url(header)), json.loads(unb64url(payload)), signature


def compact(header: Mapping[str, Any], claims: Mapping[str, Any], sign: Signer | None) -> str:
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = b64url(sign(signing_input.encode())) if sign else ""
    return f"{signing_input}.{signature}"


def rsa_signer(private: rsa.RSAPrivateKey, algorithm: str = "RS256") -> Signer:
    def sign(data: bytes) -> bytes:
        return private.sign(data, padding.PKCS1v15(), RSA_HASHES[algorithm])

    return sign


def hmac_signer(secret: bytes, algorithm: str) -> Signer:
    def sign(data: bytes) -> bytes:
        return hmac.new(secret, data, HMAC_HASHES[algorithm]).digest()

    return sign


@cache
def our_key() -> rsa.RSAPrivateKey:
    """The key the app under test signs with (see the `app` fixture)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def attacker_jwk() -> dict[str, str]:
    numbers = attacker_key().public_key().public_numbers()
    return {
        "kty": "RSA",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes(3, "big")),
        "kid": "attacker",
        "alg": "RS256",
        "use": "sig",
    }


@cache
def attacker_certificate() -> str:
    """A self-signed certificate for the attacker's key, as an `x5c` entry."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rathaus.example")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(attacker_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(attacker_key(), hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def key_pointing_header(name: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "jwk": {k: v for k, v in attacker_jwk().items() if k in ("kty", "n", "e")},
        "jku": ATTACKER_JWKS,
        "x5u": ATTACKER_CERT,
        "x5c": [attacker_certificate()],
    }
    return {name: values[name]}


class Forger:
    """Re-signs the claims of a genuine token, with our key unless told otherwise."""

    def __init__(self, genuine: str) -> None:
        self.header, self.claims, self.signature = parts(genuine)

    def token(
        self,
        *,
        header: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
        without: tuple[str, ...] = (),
        sign: Signer | None = None,
    ) -> str:
        new_claims = {**self.claims, **(claims or {})}
        for name in without:
            new_claims.pop(name, None)
        return compact(
            {**self.header, **(header or {})},
            new_claims,
            sign or rsa_signer(our_key()),
        )


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return SigningKey(
        our_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def app(app: FastAPI, signing_key: SigningKey) -> FastAPI:
    """The app, signing with a key these tests hold too, so that they can forge with it."""
    app.state.identity = replace(app.state.identity, signing_key=signing_key)
    return app


@pytest.fixture
def leeway(app: FastAPI) -> int:
    return int(app.state.settings.jwt_leeway_seconds)


@pytest.fixture
async def erika(client: httpx.AsyncClient) -> Tokens:
    return await sign_in(client, "erika")


@pytest.fixture
def forger(erika: Tokens) -> Forger:
    return Forger(erika.access_token)


async def call(client: httpx.AsyncClient, token: str, path: str = ME) -> httpx.Response:
    return await client.get(path, headers={"Authorization": f"Bearer {token}"})


async def assert_refused(client: httpx.AsyncClient, token: str, path: str = ME) -> None:
    response = await call(client, token, path)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["type"] == "https://rathaus.example/problems/invalid-token"


async def assert_accepted(client: httpx.AsyncClient, token: str) -> None:
    response = await call(client, token)
    assert response.status_code == 200, response.text


def now() -> int:
    return int(time.time())


async def test_genuine_token_and_the_same_claims_signed_again_by_us_are_accepted(
    client: httpx.AsyncClient, erika: Tokens, forger: Forger
) -> None:
    await assert_accepted(client, erika.access_token)
    await assert_accepted(client, forger.token())


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["empty", "original"])
@pytest.mark.parametrize("path", [ME, STAFF_ME])
async def test_unsigned_token_with_alg_none_gets_401(
    client: httpx.AsyncClient, forger: Forger, alg: str, signature: str, path: str
) -> None:
    unsigned = compact({**forger.header, "alg": alg}, forger.claims, None)
    token = unsigned if signature == "empty" else unsigned + forger.signature

    await assert_refused(client, token, path)


def public_key_forms(signing_key: SigningKey) -> dict[str, bytes]:
    public = our_key().public_key()
    return {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pkcs1-pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk": json.dumps(signing_key.jwks_entry()).encode(),
        "compact-jwk": json.dumps(signing_key.jwks_entry(), separators=(",", ":")).encode(),
    }


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("form", ["pem", "pkcs1-pem", "der", "jwk", "compact-jwk"])
async def test_token_signed_with_hmac_over_our_public_key_gets_401(
    client: httpx.AsyncClient, forger: Forger, signing_key: SigningKey, alg: str, form: str
) -> None:
    secret = public_key_forms(signing_key)[form]

    token = forger.token(header={"alg": alg}, sign=hmac_signer(secret, alg))

    await assert_refused(client, token)


async def test_jwks_document_used_as_hmac_secret_gets_401(
    client: httpx.AsyncClient, forger: Forger
) -> None:
    published = (await client.get(JWKS)).content

    token = forger.token(header={"alg": "HS256"}, sign=hmac_signer(published, "HS256"))

    await assert_refused(client, token)


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
async def test_our_key_with_another_rsa_algorithm_gets_401(
    client: httpx.AsyncClient, forger: Forger, alg: str
) -> None:
    token = forger.token(header={"alg": alg}, sign=rsa_signer(our_key(), alg))

    await assert_refused(client, token)


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u", "x5c"])
@pytest.mark.parametrize("kid", ["ours", "attacker's", "none"])
async def test_token_signed_by_an_attacker_key_named_in_its_header_gets_401(
    client: httpx.AsyncClient, forger: Forger, name: str, kid: str
) -> None:
    header = {**forger.header, **key_pointing_header(name)}
    if kid == "attacker's":
        header["kid"] = "attacker"
    elif kid == "none":
        del header["kid"]

    token = compact(header, forger.claims, rsa_signer(attacker_key()))

    await assert_refused(client, token)


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u", "x5c"])
async def test_genuine_token_with_a_key_pointing_header_is_accepted_when_we_signed_it(
    client: httpx.AsyncClient, forger: Forger, name: str
) -> None:
    await assert_accepted(client, forger.token(header=key_pointing_header(name)))


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u", "x5c"])
async def test_key_pointing_header_added_to_a_genuine_token_breaks_its_signature(
    client: httpx.AsyncClient, forger: Forger, name: str
) -> None:
    header = {**forger.header, **key_pointing_header(name)}

    token = f"{segment(header)}.{segment(forger.claims)}.{forger.signature}"

    await assert_refused(client, token)


@pytest.mark.parametrize("kid", ["unknown-key", "", 1, ["a"]])
async def test_token_naming_a_key_we_do_not_have_gets_401(
    client: httpx.AsyncClient, forger: Forger, kid: object
) -> None:
    await assert_refused(client, forger.token(header={"kid": kid}))


@pytest.mark.parametrize(
    "issuer",
    ["https://attacker.example", "http://127.0.0.1:8000/", "http://127.0.0.1:8000/api/v1", None],
)
async def test_token_from_another_issuer_gets_401(
    client: httpx.AsyncClient, forger: Forger, issuer: str | None
) -> None:
    assert forger.claims["iss"] == "http://127.0.0.1:8000"

    token = (
        forger.token(without=("iss",)) if issuer is None else forger.token(claims={"iss": issuer})
    )

    await assert_refused(client, token)


@pytest.mark.parametrize(
    "audience",
    ["another-api", "RATHAUS-API", ["another-api"], ["rathaus-api", "another-api"], [], 1],
)
async def test_token_for_another_audience_gets_401(
    client: httpx.AsyncClient, forger: Forger, audience: object
) -> None:
    await assert_refused(client, forger.token(claims={"aud": audience}))


async def test_token_without_audience_gets_401(client: httpx.AsyncClient, forger: Forger) -> None:
    await assert_refused(client, forger.token(without=("aud",)))


async def test_token_expired_just_beyond_the_leeway_gets_401(
    client: httpx.AsyncClient, forger: Forger, leeway: int
) -> None:
    issued = now() - 600
    claims = {"iat": issued, "nbf": issued, "exp": now() - leeway - 5}

    await assert_refused(client, forger.token(claims=claims))


async def test_token_expired_just_within_the_leeway_is_accepted(
    client: httpx.AsyncClient, forger: Forger, leeway: int
) -> None:
    issued = now() - 600
    claims = {"iat": issued, "nbf": issued, "exp": now() - leeway + 5}

    await assert_accepted(client, forger.token(claims=claims))


async def test_token_valid_only_beyond_the_leeway_gets_401(
    client: httpx.AsyncClient, forger: Forger, leeway: int
) -> None:
    await assert_refused(client, forger.token(claims={"nbf": now() + leeway + 5}))


async def test_token_valid_just_within_the_leeway_is_accepted(
    client: httpx.AsyncClient, forger: Forger, leeway: int
) -> None:
    await assert_accepted(client, forger.token(claims={"nbf": now() + leeway - 5}))


@pytest.mark.parametrize("claim", ["exp", "iat"])
async def test_token_without_a_required_time_gets_401(
    client: httpx.AsyncClient, forger: Forger, claim: str
) -> None:
    await assert_refused(client, forger.token(without=(claim,)))


@pytest.mark.parametrize(
    "value",
    ["9999999999", True, None, float("inf"), float("nan"), 10**400],
    ids=["string", "boolean", "null", "infinity", "nan", "beyond-float"],
)
async def test_token_whose_expiry_is_no_finite_number_gets_401(
    client: httpx.AsyncClient, forger: Forger, value: object
) -> None:
    await assert_refused(client, forger.token(claims={"exp": value}))


async def test_token_issued_in_the_future_gets_401(
    client: httpx.AsyncClient, forger: Forger, leeway: int
) -> None:
    await assert_refused(client, forger.token(claims={"iat": now() + leeway + 5}))


@pytest.mark.parametrize(
    "change",
    [
        {"exp": 4_102_444_800},
        {"sub": str(uuid.uuid4())},
        {"typ": "staff"},
        {"sid": str(uuid.uuid4())},
    ],
    ids=["exp", "sub", "typ", "sid"],
)
async def test_tampered_payload_with_the_original_signature_gets_401(
    client: httpx.AsyncClient, forger: Forger, change: dict[str, object]
) -> None:
    claims = {**forger.claims, **change}

    token = f"{segment(forger.header)}.{segment(claims)}.{forger.signature}"

    await assert_refused(client, token)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b",
        "a.b.c.d",
        "...",
        "!!!.@@@.###",
        f"{b64url(b'not json')}.{b64url(b'{}')}.",
        f"{b64url(b'[1, 2]')}.{b64url(b'{}')}.",
        f"{segment({'alg': 'RS256'})}.{'A' * 20_000}.sig",
    ],
    ids=[
        "one-part",
        "two-parts",
        "four-parts",
        "empty-parts",
        "not-base64",
        "header-not-json",
        "header-not-object",
        "oversized",
    ],
)
async def test_structurally_broken_token_gets_401(client: httpx.AsyncClient, token: str) -> None:
    await assert_refused(client, token)


@pytest.mark.parametrize("signature", ["", "A", "AAAA", "not base64!"])
async def test_genuine_token_with_its_signature_replaced_gets_401(
    client: httpx.AsyncClient, erika: Tokens, signature: str
) -> None:
    token = f"{erika.access_token.rsplit('.', 1)[0]}.{signature}"

    await assert_refused(client, token)


async def test_token_with_signature_of_another_token_gets_401(
    client: httpx.AsyncClient, forger: Forger
) -> None:
    other = forger.token(claims={"jti": "other"})

    token = f"{other.rsplit('.', 1)[0]}.{forger.signature}"

    await assert_refused(client, token)


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe{}"])
async def test_token_we_signed_whose_payload_is_no_claims_object_gets_401(
    client: httpx.AsyncClient, forger: Forger, payload: bytes
) -> None:
    signing_input = f"{segment(forger.header)}.{b64url(payload)}"
    signature = b64url(rsa_signer(our_key())(signing_input.encode()))

    await assert_refused(client, f"{signing_input}.{signature}")


@pytest.mark.parametrize(
    "crit",
    [{"crit": ["exp"], "exp": 4_102_444_800}, {"crit": ["b64"], "b64": True}, {"crit": []}],
    ids=["exp", "b64", "empty"],
)
async def test_token_with_critical_header_extensions_gets_401(
    client: httpx.AsyncClient, forger: Forger, crit: dict[str, object]
) -> None:
    await assert_refused(client, forger.token(header=crit))


async def test_jwks_publishes_exactly_our_public_key(
    client: httpx.AsyncClient, erika: Tokens
) -> None:
    response = await client.get(JWKS)

    assert response.status_code == 200
    (key,) = response.json()["keys"]
    public = our_key().public_key().public_numbers()
    assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["alg"] == "RS256"
    assert int.from_bytes(unb64url(key["n"]), "big") == public.n
    assert int.from_bytes(unb64url(key["e"]), "big") == public.e
    assert key["kid"] == parts(erika.access_token)[0]["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(key)


async def test_jwks_kid_is_the_rfc7638_thumbprint_and_verifies_our_tokens(
    client: httpx.AsyncClient, erika: Tokens
) -> None:
    (key,) = (await client.get(JWKS)).json()["keys"]
    canonical = json.dumps({"e": key["e"], "kty": "RSA", "n": key["n"]}, separators=(",", ":"))

    assert key["kid"] == b64url(hashlib.sha256(canonical.encode()).digest())
    claims = json.loads(jws.verify(erika.access_token, key, algorithms=["RS256"]))
    assert claims["aud"] == "rathaus-api"
    assert claims["typ"] == "citizen"
