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
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import record
from app.core.db import Database, utcnow
from app.core.i18n import Text
from app.core.metrics import CPU_BOUND_TASKS
from app.core.offload import run_cpu_bound
from app.core.pagination import PageParams, paginate
from app.core.principal import ClientScope
from app.core.state_machine import InvalidTransition, StateMachine, Transition
from app.identity.errors import ClientBranchRequired, ClientNotFound, InvalidClient
from app.identity.models import ApiClient
from app.organisation.service import branch_service


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


def _scrypt(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


async def _hashed(secret: str, salt: bytes) -> bytes:
    """About 40 ms of CPU, so in the bounded thread pool, never on the event loop; counted,
    so that operators (and tests) see every check cost one hash."""
    CPU_BOUND_TASKS.labels(task="client_secret_hash").inc()
    return await run_cpu_bound(_scrypt, secret, salt)


async def hash_client_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = await _hashed(secret, salt)
    return f"scrypt${salt.hex()}${digest.hex()}"


MAX_CLIENT_ID_LENGTH = 64
MAX_CLIENT_SECRET_LENGTH = 200
_DUMMY_SECRET_HASH = "scrypt$" + "00" * 16 + "$" + "00" * 32


async def client_secret_matches(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = await _hashed(secret, bytes.fromhex(salt_hex))
    return hmac.compare_digest(digest.hex(), digest_hex)


@dataclass(frozen=True)
class AuthenticatedClient:
    id: uuid.UUID
    client_id: str
    scopes: list[str]


async def authenticate_client(
    database: Database, client_id: str | None, client_secret: str | None
) -> AuthenticatedClient:
    """The client these credentials belong to, or `InvalidClient`.

    Unknown, revoked and known clients cost the same (one lookup, one hash), so timing does
    not reveal which ids exist. The lookup's connection is given back before the hash: a
    burst of attempts holds no database connection, and on SQLite no lock, while it hashes.
    """
    if (
        not client_id
        or not client_secret
        or len(client_id) > MAX_CLIENT_ID_LENGTH
        or len(client_secret) > MAX_CLIENT_SECRET_LENGTH
    ):
        raise InvalidClient()
    connection = await database.read_connection()
    try:
        found = await connection.execute(
            select(
                ApiClient.id,
                ApiClient.client_id,
                ApiClient.scopes,
                ApiClient.status,
                ApiClient.secret_hash,
            ).where(ApiClient.client_id == client_id)
        )
        row = found.first()
    finally:
        await database.release(connection)
    matches = await client_secret_matches(
        client_secret, row.secret_hash if row is not None else _DUMMY_SECRET_HASH
    )
    if row is None or row.status != ClientStatus.active or not matches:
        raise InvalidClient()
    return AuthenticatedClient(row.id, row.client_id, list(row.scopes))


class ClientService:
    async def create(
        self,
        session: AsyncSession,
        name: str,
        scopes: Sequence[ClientScope],
        branch_id: uuid.UUID | None = None,
    ) -> tuple[ApiClient, str]:
        if ClientScope.appointments_tickets in scopes and branch_id is None:
            raise ClientBranchRequired()
        if branch_id is not None:
            await branch_service.get(session, branch_id)  # 404 for a branch that does not exist
        secret = secrets.token_urlsafe(32)
        client = ApiClient(
            client_id="cl_" + secrets.token_hex(12),
            name=name,
            secret_hash=await hash_client_secret(secret),
            scopes=sorted({s.value for s in scopes}),
            branch_id=branch_id,
            status=CLIENTS.initial,
        )
        session.add(client)
        await session.flush()
        await record(
            session,
            action="api_client.create",
            object_type="api_client",
            object_id=client.id,
            summary={
                "name": name,
                "scopes": " ".join(client.scopes),
                "branch_id": str(branch_id) if branch_id else None,
            },
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
            values={"secret_hash": await hash_client_secret(secret)},
        )
        return client, secret


client_service = ClientService()
