"""JWT signing and verification with pinned algorithms.

The algorithm is decided by the key, never by the token: a token's `alg` must equal the
algorithm pinned for the key its `kid` names. Headers that point elsewhere for keys (`jwk`,
`jku`, `x5u`, `x5c`) are ignored: keys come only from our own key set or the provider's JWKS.
Claims are checked here, not by the library, so that a missing `aud` or `exp` is an error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jws
from jose.exceptions import JOSEError

from app.core.config import PROJECT_ROOT, ConfigurationError, Environment, Settings

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


class InvalidToken(Exception):
    """Any reason a token is not accepted. The reason is for logs and tests, not clients."""


class UnknownKeyId(InvalidToken):
    """The token names a key we do not have (the caller may refresh a JWKS once)."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str | None
    algorithm: str
    key: Any

    @classmethod
    def from_jwk(cls, data: Mapping[str, Any]) -> VerificationKey | None:
        """A usable signature key from a JWK, or None (encryption keys, symmetric keys …)."""
        if data.get("use", "sig") != "sig":
            return None
        algorithm = pinned_algorithm(data)
        if algorithm is None:
            return None
        public = {k: v for k, v in data.items() if k in {"kty", "n", "e", "crv", "x", "y"}}
        try:
            key = jwk.construct(public, algorithm=algorithm)
        except (JOSEError, ValueError, TypeError, KeyError):
            return None
        kid = data.get("kid")
        return cls(str(kid) if kid is not None else None, algorithm, key)


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
    max_bytes: int = 16_384,
) -> dict[str, Any]:
    """Verified claims of a compact JWS, or InvalidToken."""
    header = _header(token, max_bytes)
    key = _select_key(list(keys), header.get("kid"))
    if header.get("alg") != key.algorithm:
        raise InvalidToken("algorithm does not match the key")
    try:
        payload = jws.verify(token, key.key, algorithms=[key.algorithm])
    except JOSEError as exc:
        raise InvalidToken("signature verification failed") from exc
    claims = _json_object(payload)
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
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > max_bytes:
        raise InvalidToken("not a compact JWS")
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed header") from exc
    if not isinstance(header, dict):
        raise InvalidToken("malformed header")
    if "crit" in header:
        raise InvalidToken("critical header extensions are not supported")
    return header


def _select_key(keys: list[VerificationKey], kid: object) -> VerificationKey:
    if kid is None:
        if len(keys) == 1:
            return keys[0]
        raise InvalidToken("token has no kid")
    for key in keys:
        if key.kid == kid:
            return key
    raise UnknownKeyId("unknown kid")


def _json_object(payload: bytes | str) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
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
    issuers = {issuer} if isinstance(issuer, str) else set(issuer)
    if claims.get("iss") not in issuers:
        raise InvalidToken("wrong issuer")
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
    if nonce is not None and claims.get("nonce") != nonce:
        raise InvalidToken("nonce mismatch")


def _check_audience(claims: Mapping[str, Any], audience: str, authorized_party: str | None) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if not audiences or audience not in audiences:
        raise InvalidToken("wrong or missing audience")
    azp = claims.get("azp")
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
        self._private = jwk.construct(private, algorithm=self.algorithm)
        public = jwk.construct(private.public_key(), algorithm=self.algorithm).to_dict()
        self.public_jwk: dict[str, str] = {"kty": "RSA", "n": public["n"], "e": public["e"]}
        self.kid = _thumbprint(self.public_jwk)

    def sign(self, claims: Mapping[str, Any]) -> str:
        token: str = jws.sign(
            json.dumps(dict(claims), separators=(",", ":")).encode(),
            self._private,
            headers={"kid": self.kid, "typ": "at+jwt"},
            algorithm=self.algorithm,
        )
        return token

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
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )


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
