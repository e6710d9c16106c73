"""Every signing algorithm we list is verified, each key only with the one it is pinned to,
and a provider whose keys allow none of them is refused when the server starts.

eIDAS nodes sign with RSA-PSS (PS256 …): a citizen signing in through such a provider must
get in, and a PSS signature must never pass for a PKCS #1 v1.5 one or the other way round.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app.core.config import ConfigurationError, Settings
from app.core.logging import configure_logging
from app.identity.adapters.oidc import check_providers
from tests.conftest import run_cli
from tests.fixtures.oidc_flow import (
    BUNDID,
    BUNDID_CLIENT,
    BUNDID_SECRET,
    ERIKA,
    REFUSED,
    bundid_answers,
    callback_url,
    profile,
    sign_in,
)
from tests.fixtures.openid_provider import OpenIdProvider, OpKey, Signer, b64url

SUPPORTED = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512"

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


# Start-up: providers whose tokens we could never verify


def ed25519_jwk(kid: str) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid, "x": b64url(bytes(32))}


def rsa_oaep_jwk(kid: str) -> dict[str, str]:
    """An RSA key for encryption, published without `use`: only its `alg` says so."""
    entry = {**OpKey.rsa(kid).public_jwk(), "alg": "RSA-OAEP"}
    del entry["use"]
    return entry


UNUSABLE_JWKS: dict[str, tuple[list[dict[str, str]], str]] = {
    "eddsa": ([ed25519_jwk("ed-1"), ed25519_jwk("ed-2")], "EdDSA"),
    "symmetric": ([{"kty": "oct", "kid": "hmac-1", "k": b64url(b"s" * 32)}], "oct key without alg"),
    "rsa-oaep": ([rsa_oaep_jwk("oaep-1")], "RSA-OAEP"),
    "eddsa-and-rsa-oaep": ([ed25519_jwk("ed-1"), rsa_oaep_jwk("oaep-1")], "EdDSA, RSA-OAEP"),
}


async def refusal(settings: Settings, http: httpx.AsyncClient) -> str:
    with pytest.raises(ConfigurationError) as refused:
        await check_providers(settings, http)
    return str(refused.value)


async def test_providers_with_supported_keys_pass_the_start_up_check(
    settings: Settings, provider_http: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    bundid.keys = [OpKey.rsa_pss("buergerkonto-ps256", "PS256")]
    bundid.extra_jwks = [ed25519_jwk("ed-1"), {"kty": "oct", "k": "c2VjcmV0"}]

    await check_providers(settings, provider_http)

    assert bundid.requests["jwks"] == 1


@pytest.mark.parametrize(("published", "offered"), UNUSABLE_JWKS.values(), ids=UNUSABLE_JWKS.keys())
async def test_provider_publishing_no_key_with_a_supported_algorithm_is_refused_at_start(
    settings: Settings,
    provider_http: httpx.AsyncClient,
    bundid: OpenIdProvider,
    published: list[dict[str, str]],
    offered: str,
) -> None:
    bundid.keys = []
    bundid.extra_jwks = published

    line = await refusal(settings, provider_http)

    assert line == (
        f"RATHAUS_OIDC_PROVIDERS: provider 'bundid' publishes no signing key with a supported "
        f"algorithm ({SUPPORTED}); it offers: {offered}."
    )


async def test_provider_announcing_no_supported_algorithm_in_discovery_is_refused_at_start(
    settings: Settings, provider_http: httpx.AsyncClient, bundid: OpenIdProvider
) -> None:
    bundid.signing_algs = ["EdDSA", "HS256"]

    line = await refusal(settings, provider_http)

    assert line == (
        f"RATHAUS_OIDC_PROVIDERS: provider 'bundid' signs ID tokens with no supported "
        f"algorithm ({SUPPORTED}); it offers: EdDSA, HS256."
    )


async def test_every_unusable_provider_is_named_in_the_one_refusal_line(
    settings: Settings,
    provider_http: httpx.AsyncClient,
    bundid: OpenIdProvider,
    staff_keycloak: OpenIdProvider,
) -> None:
    bundid.signing_algs = ["EdDSA"]
    staff_keycloak.keys = []
    staff_keycloak.extra_jwks = [ed25519_jwk("ed-1")]

    line = await refusal(settings, provider_http)

    assert "\n" not in line
    assert "provider 'bundid' signs ID tokens" in line
    assert "provider 'keycloak-staff' publishes no signing key" in line


async def test_provider_configured_but_not_enabled_is_not_asked_at_start(
    settings: Settings, provider_http: httpx.AsyncClient, staff_keycloak: OpenIdProvider
) -> None:
    staff_keycloak.signing_algs = ["EdDSA"]
    only_bundid = settings.model_copy(update={"identity_providers": ["bundid"]})

    await check_providers(only_bundid, provider_http)

    assert staff_keycloak.requests["discovery"] == 0


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> pytest.CaptureFixture[str]:
    configure_logging("INFO", json=True)
    capsys.readouterr()
    return capsys


@pytest.mark.parametrize("outage", ["offline", "discovery", "jwks"])
async def test_unreachable_provider_does_not_stop_the_start_and_is_logged_in_one_line(
    settings: Settings,
    provider_http: httpx.AsyncClient,
    bundid: OpenIdProvider,
    json_logs: pytest.CaptureFixture[str],
    outage: str,
) -> None:
    bundid.keys = []
    bundid.extra_jwks = [ed25519_jwk("ed-1")]  # would be refused, could it be asked
    if outage == "offline":
        bundid.offline = True
    else:
        bundid.failing.add(outage)

    await check_providers(settings, provider_http)

    logged = json_logs.readouterr()
    [line] = [json.loads(line) for line in logged.err.splitlines() if "bundid" in line]
    assert line["event"] == "auth.provider_not_checked"
    assert line["level"] == "warning"
    assert BUNDID_SECRET not in logged.err


@contextmanager
def provider_over_http() -> Iterator[OpenIdProvider]:
    """An in-test provider behind a real HTTP port, for a `rathaus` process to ask."""
    provider: list[OpenIdProvider] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            request = httpx.Request("GET", provider[0].issuer.split("/realms")[0] + self.path)
            response = asyncio.run(provider[0].handle(request))
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", "text/plain"))
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads the command's output, not the provider's."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    provider.append(
        OpenIdProvider(
            issuer=f"http://127.0.0.1:{port}/realms/buergerkonto",
            client_id=BUNDID_CLIENT,
            redirect_uris=(callback_url("bundid"),),
        )
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_serve_refuses_to_start_with_one_line_for_a_provider_signing_only_with_eddsa(
    tmp_path: Path,
) -> None:
    with provider_over_http() as eddsa_provider:
        eddsa_provider.keys = []
        eddsa_provider.extra_jwks = [ed25519_jwk("ed-1")]
        configured = BUNDID.model_copy(
            update={"issuer": eddsa_provider.issuer, "allowed_issuers": []}
        )
        result = run_cli(
            "serve",
            env={
                "RATHAUS_ENV": "test",
                "RATHAUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'rathaus.db'}",
                "RATHAUS_IDENTITY_PROVIDERS": "bundid",
                "RATHAUS_OIDC_PROVIDERS": json.dumps([configured.model_dump()]),
            },
        )

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Refusing to start: RATHAUS_OIDC_PROVIDERS: provider 'bundid' publishes no signing "
        f"key with a supported algorithm ({SUPPORTED}); it offers: EdDSA."
    ]
