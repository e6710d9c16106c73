"""Integrator clients: administrators manage them; a client can look itself up."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Response

from app.core.auth import Admin, Client
from app.core.errors import InvalidCursor
from app.core.openapi import response_headers
from app.core.pagination import PageParams, page_params
from app.core.routing import api_router, problem_responses
from app.core.state_machine import InvalidTransition
from app.core.uow import ReadSession, WriteSession
from app.identity.clients import ClientStatus, client_service
from app.identity.errors import ClientBranchRequired, ClientNotFound
from app.identity.models import ApiClient
from app.identity.schemas import ClientCreate, ClientPage, ClientRead, ClientWithSecret
from app.organisation.errors import BranchNotFound

router = api_router("identity")

ClientId = Annotated[uuid.UUID, Path(description="The client's `id` (not its `client_id`).")]


def _client_read(client: ApiClient) -> ClientRead:
    return ClientRead(
        id=client.id,
        client_id=client.client_id,
        name=client.name,
        scopes=list(client.scopes),
        branch_id=client.branch_id,
        status=ClientStatus(client.status),
        active=client.is_active,
        created_at=client.created_at,
        revoked_at=client.revoked_at,
    )


@router.get(
    "/admin/clients",
    response_model=ClientPage,
    summary="List integrator clients, oldest first",
    description="Every client, active or revoked, for administrators. Secrets are never "
    "shown here.",
    responses=problem_responses(InvalidCursor),
)
async def list_clients(
    _admin: Admin, session: ReadSession, params: Annotated[PageParams, Depends(page_params)]
) -> ClientPage:
    clients, next_cursor = await client_service.list(session, params)
    return ClientPage(items=[_client_read(c) for c in clients], next_cursor=next_cursor)


@router.post(
    "/admin/clients",
    response_model=ClientWithSecret,
    status_code=201,
    summary="Create an integrator client; the secret is shown once",
    description="The response carries the client's secret; it is stored only as a hash and "
    "cannot be shown again (a new one can be issued). Not idempotent: each call creates a "
    "client, so retry only after listing the clients.",
    responses={
        **problem_responses(ClientBranchRequired, BranchNotFound),
        **response_headers(201, "Location"),
    },
)
async def create_client(
    body: ClientCreate, _admin: Admin, session: WriteSession, response: Response
) -> ClientWithSecret:
    client, secret = await client_service.create(session, body.name, body.scopes, body.branch_id)
    response.headers["Location"] = f"/api/v1/admin/clients/{client.id}"
    response.headers["Cache-Control"] = "no-store"
    return ClientWithSecret(**_client_read(client).model_dump(), client_secret=secret)


@router.get(
    "/admin/clients/{client_id}",
    response_model=ClientRead,
    summary="Get one integrator client",
    description="One client with its scopes and status, for administrators.",
    responses=problem_responses(ClientNotFound),
)
async def get_client(client_id: ClientId, _admin: Admin, session: ReadSession) -> ClientRead:
    return _client_read(await client_service.get(session, client_id))


@router.post(
    "/admin/clients/{client_id}/secret",
    response_model=ClientWithSecret,
    summary="Issue a new secret; the old one stops working",
    description="Only for an active client: a revoked one gets 409 with `current_status`.",
    responses=problem_responses(ClientNotFound, InvalidTransition),
)
async def rotate_client_secret(
    client_id: ClientId, _admin: Admin, session: WriteSession, response: Response
) -> ClientWithSecret:
    client, secret = await client_service.rotate_secret(session, client_id)
    response.headers["Cache-Control"] = "no-store"
    return ClientWithSecret(**_client_read(client).model_dump(), client_secret=secret)


@router.delete(
    "/admin/clients/{client_id}",
    response_model=ClientRead,
    summary="Revoke a client; its tokens stop working at once",
    description="Idempotent: revoking a revoked client returns it unchanged.",
    responses=problem_responses(ClientNotFound),
)
async def revoke_client(client_id: ClientId, _admin: Admin, session: WriteSession) -> ClientRead:
    return _client_read(await client_service.revoke(session, client_id))


@router.get(
    "/clients/me",
    response_model=ClientRead,
    summary="The calling integrator client and its scopes",
    description="For an integrator to check its own client: its id, name, scopes and status.",
)
async def client_me(principal: Client, session: ReadSession) -> ClientRead:
    return _client_read(await client_service.get(session, principal.id))
