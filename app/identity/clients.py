"""Integrators' machine clients (OAuth 2.0 client credentials), managed by administrators.

A client is `active` until it is revoked; both its revocation and a new secret are
transitions of its state machine, so a revocation racing a rotation cannot be undone by it.
The secret is shown once and stored only as an scrypt hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import record
from app.core.db import utcnow
from app.core.i18n import Text
from app.core.pagination import PageParams, paginate
from app.core.principal import ClientScope
from app.core.state_machine import InvalidTransition, StateMachine, Transition
from app.identity.errors import ClientNotFound, InvalidClient
from app.identity.models import ApiClient


class ClientStatus(StrEnum):
    active = "active"
    revoked = "revoked"


CLIENTS = StateMachine(
    "api_client",
    ApiClient,
    [
        Transition.of("revoke", {ClientStatus.active}, ClientStatus.revoked),
        Transition.of("rotate_secret", {ClientStatus.active}, ClientStatus.active),
    ],
    not_found=ClientNotFound,
    labels={
        ClientStatus.active: Text(de="aktiv", en="active"),
        ClientStatus.revoked: Text(de="gesperrt", en="revoked"),
    },
    initial=ClientStatus.active,
)


def hash_client_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


_DUMMY_SECRET_HASH = "scrypt$" + "00" * 16 + "$" + "00" * 32


def client_secret_matches(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        secret.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1, dklen=32
    )
    return hmac.compare_digest(digest.hex(), digest_hex)


async def authenticate_client(
    session: AsyncSession, client_id: str | None, client_secret: str | None
) -> ApiClient:
    if not client_id or not client_secret or len(client_id) > 64 or len(client_secret) > 200:
        raise InvalidClient()
    client = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None:
        # Same work as for a known client, so timing does not reveal which ids exist.
        client_secret_matches(client_secret, _DUMMY_SECRET_HASH)
        raise InvalidClient()
    if not client.is_active or not client_secret_matches(client_secret, client.secret_hash):
        raise InvalidClient()
    return client


class ClientService:
    async def create(
        self, session: AsyncSession, name: str, scopes: Sequence[ClientScope]
    ) -> tuple[ApiClient, str]:
        secret = secrets.token_urlsafe(32)
        client = ApiClient(
            client_id="cl_" + secrets.token_hex(12),
            name=name,
            secret_hash=hash_client_secret(secret),
            scopes=sorted({s.value for s in scopes}),
            status=CLIENTS.initial,
        )
        session.add(client)
        await session.flush()
        await record(
            session,
            action="api_client.create",
            object_type="api_client",
            object_id=client.id,
            summary={"name": name, "scopes": " ".join(client.scopes)},
        )
        return client, secret

    async def list(
        self, session: AsyncSession, params: PageParams
    ) -> tuple[list[ApiClient], str | None]:
        return await paginate(
            session, select(ApiClient), order_by=[ApiClient.created_at, ApiClient.id], params=params
        )

    async def get(self, session: AsyncSession, client_uuid: uuid.UUID) -> ApiClient:
        client = await session.get(ApiClient, client_uuid)
        if client is None:
            raise ClientNotFound()
        return client

    async def revoke(self, session: AsyncSession, client_uuid: uuid.UUID) -> ApiClient:
        """Idempotent: revoking a revoked client keeps (and audits) only the first revocation."""
        try:
            return await CLIENTS.apply(
                session, client_uuid, "revoke", values={"revoked_at": utcnow()}
            )
        except InvalidTransition as refused:
            if refused.extensions.get("current_status") != ClientStatus.revoked:
                raise
            return await self.get(session, client_uuid)

    async def rotate_secret(
        self, session: AsyncSession, client_uuid: uuid.UUID
    ) -> tuple[ApiClient, str]:
        """A new secret for an active client; a revoked one stays revoked (409)."""
        secret = secrets.token_urlsafe(32)
        client = await CLIENTS.apply(
            session,
            client_uuid,
            "rotate_secret",
            values={"secret_hash": hash_client_secret(secret)},
        )
        return client, secret


client_service = ClientService()
