"""JWT signing and verification with pinned algorithms.

The algorithm is decided by the key, never by the token: a token's `alg` must equal the
algorithm pinned for the key its `kid` names. Headers that point elsewhere for keys (`jwk`,
`jku`, `x5u`, `x5c`) are ignored: keys come only from our own key set or the provider's JWKS.
Claims are checked here, not by the library, so that a missing `aud` or `exp` is an error.

Signatures are checked with `cryptography` for every algorithm we list (RFC 7518 §3):
python-jose cannot verify RSA-PSS, which eIDAS providers sign with.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from app.core.config import PROJECT_ROOT, ConfigurationError, Environment, Settings

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
SUPPORTED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
)
"""Every algorithm a key may be pinned to, in the order we name them to operators."""

MAX_TOKEN_BYTES = 16_384

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class InvalidToken(Exception):
    """Any reason a token is not accepted. The reason is for logs and tests, not clients."""


class UnknownKeyId(InvalidToken):
    """The token names a key we do not have (the caller may refresh a JWKS once)."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str | None
    algorithm: str
    key: PublicKey

    @classmethod
    def from_jwk(cls, data: Mapping[str, Any]) -> VerificationKey | None:
        """A usable signature key from a JWK, or None (encryption keys, symmetric keys …)."""
        if data.get("use", "sig") != "sig":
            return None
        algorithm = pinned_algorithm(data)
        if algorithm is None:
            return None
        try:
            key = _public_key(data)
        except (ValueError, TypeError, KeyError, UnsupportedAlgorithm):
            return None
        kid = data.get("kid")
        return cls(str(kid) if kid is not None else None, algorithm, key)

    def verify_signature(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether `signature` over `signing_input` is this key's, with its pinned algorithm."""
        digest = _HASHES[self.algorithm[2:]]()
        try:
            if isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, signing_input, _rsa_padding(self.algorithm), digest)
            else:
                der = _raw_ecdsa_to_der(signature, self.key.curve)
                self.key.verify(der, signing_input, ec.ECDSA(digest))
        except (InvalidSignature, ValueError):
            return False
        return True


def pinned_algorithm(data: Mapping[str, Any]) -> str | None:
    """The one algorithm a key may be used with, from its type (and `alg`, if it agrees)."""
    kty = data.get("kty")
    declared = data.get("alg")
    if kty == "RSA":
        if declared is None:
            return "RS256"
        return str(declared) if declared in RSA_ALGORITHMS else None
    if kty == "EC":
        expected = EC_ALGORITHMS.get(str(data.get("crv")))
        if expected is None or declared not in (None, expected):
            return None
        return expected
    return None


def _public_key(data: Mapping[str, Any]) -> PublicKey:
    """The public key of an RSA or EC JWK; ValueError if it is not a valid one."""
    if data["kty"] == "RSA":
        return rsa.RSAPublicNumbers(_uint(data["e"]), _uint(data["n"])).public_key()
    curve = _EC_CURVES[str(data["crv"])]
    # Rejects points that are not on the curve (invalid-curve attacks).
    return ec.EllipticCurvePublicNumbers(_uint(data["x"]), _uint(data["y"]), curve).public_key()


def _uint(value: object) -> int:
    if not isinstance(value, str) or not value:
        raise ValueError("not a base64url integer")
    return int.from_bytes(_b64url_decode(value), "big")


def _rsa_padding(algorithm: str) -> padding.AsymmetricPadding:
    """PKCS #1 v1.5 for RS*; for PS*, PSS with MGF1 of the same hash and a salt as long as
    the hash (RFC 7518 §3.5)."""
    if algorithm.startswith("RS"):
        return padding.PKCS1v15()
    digest = _HASHES[algorithm[2:]]()
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)


def _raw_ecdsa_to_der(signature: bytes, curve: ec.EllipticCurve) -> bytes:
    """JWS carries ECDSA signatures as R || S, each padded to the curve's size (RFC 7518
    §3.4); a DER-encoded signature, as other libraries produce, is refused."""
    size = (curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        raise ValueError("ECDSA signature is not R || S of the curve's size")
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    return encode_dss_signature(r, s)


def verify(
    token: str,
    keys: Iterable[VerificationKey],
    *,
    issuer: str | Iterable[str],
    audience: str,
    leeway_seconds: int,
    now: datetime | None = None,
    nonce: str | None = None,
    authorized_party: str | None = None,
    max_bytes: int = MAX_TOKEN_BYTES,
) -> dict[str, Any]:
    """Verified claims of a compact JWS, or InvalidToken.

    `max_bytes` bounds the token before anything is decoded; ID tokens of staff with many
    groups need more than our own access tokens."""
    header = _header(token, max_bytes)
    key = _select_key(list(keys), header.get("kid"))
    if header.get("alg") != key.algorithm:
        raise InvalidToken("algorithm does not match the key")
    signing_input, _, encoded_signature = token.rpartition(".")
    try:
        signature = _b64url_decode(encoded_signature)
    except ValueError as exc:
        raise InvalidToken("malformed signature") from exc
    if not key.verify_signature(signing_input.encode("ascii"), signature):
        raise InvalidToken("signature verification failed")
    claims = _json_object(signing_input.split(".")[1])
    check_claims(
        claims,
        issuer=issuer,
        audience=audience,
        leeway_seconds=leeway_seconds,
        now=now,
        nonce=nonce,
        authorized_party=authorized_party,
    )
    return claims


def _header(token: str, max_bytes: int) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > max_bytes or token.count(".") != 2:
        raise InvalidToken("not a compact JWS")
    try:
        header = json.loads(_b64url_decode(token.split(".", 1)[0]))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed header") from exc
    if not isinstance(header, dict):
        raise InvalidToken("malformed header")
    if "crit" in header:
        raise InvalidToken("critical header extensions are not supported")
    return header


def _b64url_decode(segment: str) -> bytes:
    """Unpadded base64url, strictly: any other character is a ValueError, not skipped."""
    if not _BASE64URL.fullmatch(segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _select_key(keys: list[VerificationKey], kid: object) -> VerificationKey:
    if kid is None:
        if len(keys) == 1:
            return keys[0]
        raise InvalidToken("token has no kid")
    for key in keys:
        if key.kid == kid:
            return key
    raise UnknownKeyId("unknown kid")


def _json_object(segment: str) -> dict[str, Any]:
    try:
        claims = json.loads(_b64url_decode(segment))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("payload is not an object")
    return claims


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str | Iterable[str],
    audience: str,
    leeway_seconds: int,
    now: datetime | None = None,
    nonce: str | None = None,
    authorized_party: str | None = None,
) -> None:
    """Every registered claim we compare is checked for its JSON type first: a signed token
    with a list or an object where a string belongs is refused, never compared or hashed."""
    issuers = {issuer} if isinstance(issuer, str) else set(issuer)
    if _string(claims, "iss") not in issuers:
        raise InvalidToken("wrong issuer")
    _string(claims, "sub")
    _check_audience(claims, audience, authorized_party)
    moment = (now or datetime.now(UTC)).timestamp()
    exp = _numeric(claims, "exp", required=True)
    if exp is not None and moment > exp + leeway_seconds:
        raise InvalidToken("expired")
    nbf = _numeric(claims, "nbf", required=False)
    if nbf is not None and moment < nbf - leeway_seconds:
        raise InvalidToken("not yet valid")
    iat = _numeric(claims, "iat", required=True)
    if iat is not None and iat > moment + leeway_seconds:
        raise InvalidToken("issued in the future")
    if nonce is not None and _string(claims, "nonce") != nonce:
        raise InvalidToken("nonce mismatch")


def _string(claims: Mapping[str, Any], name: str) -> str | None:
    """The claim if it is a string, None if absent; InvalidToken for any other JSON type."""
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidToken(f"{name} is not a string")
    return value


def _check_audience(claims: Mapping[str, Any], audience: str, authorized_party: str | None) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if not audiences or not all(isinstance(a, str) for a in audiences):
        raise InvalidToken("wrong or missing audience")
    if audience not in audiences:
        raise InvalidToken("wrong or missing audience")
    azp = _string(claims, "azp")
    expected_azp = authorized_party or audience
    if len(audiences) > 1 and azp is None:
        raise InvalidToken("several audiences but no azp")
    if azp is not None and azp != expected_azp:
        raise InvalidToken("wrong authorized party")


def _numeric(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidToken(f"missing {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"{name} is not a number")
    try:
        number = float(value)
    except OverflowError as exc:
        raise InvalidToken(f"{name} is out of range") from exc
    if not math.isfinite(number):
        raise InvalidToken(f"{name} is not a finite number")
    return number


class SigningKey:
    """Our RSA key for access tokens. `kid` is the RFC 7638 thumbprint of the public key."""

    algorithm = "RS256"

    def __init__(self, private_pem: bytes) -> None:
        private = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < 2048:
            raise ValueError("the signing key must be an RSA key of at least 2048 bits")
        # Kept parsed: loading (and so validating) an RSA private key takes tens of milliseconds.
        self._private = private
        numbers = private.public_key().public_numbers()
        self.public_jwk: dict[str, str] = {
            "kty": "RSA",
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }
        self.kid = _thumbprint(self.public_jwk)

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"alg": self.algorithm, "kid": self.kid, "typ": "at+jwt"}
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
        signature = self._private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def jwks_entry(self) -> dict[str, str]:
        return {**self.public_jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def verification_key(self) -> VerificationKey:
        key = VerificationKey.from_jwk(self.jwks_entry())
        assert key is not None
        return key


def _thumbprint(public_jwk: Mapping[str, str]) -> str:
    canonical = json.dumps(
        {"e": public_jwk["e"], "kty": "RSA", "n": public_jwk["n"]}, separators=(",", ":")
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(value: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(dict(value), separators=(",", ":")).encode())


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def generate_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


_EPHEMERAL: dict[str, SigningKey] = {}


def load_signing_key(settings: Settings) -> SigningKey:
    """The configured key; outside production a generated one (a file in development, so that
    several processes and restarts agree; memory only in tests)."""
    if settings.jwt_private_key_file:
        return read_signing_key_file(Path(settings.jwt_private_key_file))
    if settings.env == Environment.test:
        if "test" not in _EPHEMERAL:
            _EPHEMERAL["test"] = SigningKey(generate_private_pem())
        return _EPHEMERAL["test"]
    path = PROJECT_ROOT / "var" / "jwt-dev-signing-key.pem"
    if not path.exists():
        _create_exclusively(path, generate_private_pem())
    return SigningKey(path.read_bytes())


def read_signing_key_file(path: Path) -> SigningKey:
    """The key in RATHAUS_JWT_PRIVATE_KEY_FILE; a `ConfigurationError` naming the setting when
    the file cannot be read or holds no RSA private key of at least 2048 bits."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"RATHAUS_JWT_PRIVATE_KEY_FILE cannot be read: {path} ({exc.strerror})."
        ) from None
    try:
        return SigningKey(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigurationError(
            f"RATHAUS_JWT_PRIVATE_KEY_FILE must hold an unencrypted PEM RSA private key of at "
            f"least 2048 bits: {path}."
        ) from None


def _create_exclusively(path: Path, content: bytes) -> None:
    """Write a whole file or nothing; when processes race, the first one's file wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def new_jti() -> str:
    return uuid.uuid4().hex
