"""A route's unit of work writes only when the route asks for the writing session."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import func, insert, select

from app.core.db import Database
from app.core.routing import api_router
from app.core.uow import ReadConnection, ReadSession, WriteSession
from app.organisation.models import Branch
from tests.fixtures.factories import create_branch

BRANCH = {
    "id": uuid.uuid4(),
    "code": "plain",
    "name": "Plain",
    "street": "Weg",
    "house_number": "1",
    "postal_code": "44137",
    "city": "Dortmund",
}


def install_routes(app: FastAPI) -> None:
    router = api_router("operations", prefix="/probe-uow")

    @router.get("/through-read-session")
    async def through_read_session(session: ReadSession) -> dict[str, str]:
        await create_branch(session, code="read-only")
        return {"status": "ok"}

    @router.get("/through-plain-connection")
    async def through_plain_connection(connection: ReadConnection) -> dict[str, int]:
        await connection.execute(insert(Branch).values(**BRANCH))
        return {"status": 1}

    @router.get("/through-write-session")
    async def through_write_session(session: WriteSession) -> dict[str, str]:
        await create_branch(session, code="written")
        return {"status": "ok"}

    app.include_router(router)


async def branch_codes(database: Database) -> set[str]:
    async with database.transaction(read_only=True) as session:
        return set((await session.scalars(select(Branch.code))).all())


async def test_a_get_route_with_the_writing_session_commits(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    install_routes(committed_app)

    response = await committed_client.get("/probe-uow/through-write-session")

    assert response.status_code == 200
    assert await branch_codes(committed_db) == {"written"}


async def test_a_read_only_unit_of_work_never_commits(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    install_routes(committed_app)

    response = await committed_client.get("/probe-uow/through-read-session")

    # SQLite rolls the write back at the end; PostgreSQL refuses it outright (a read-only
    # transaction), which is a programming error and answers 500.
    assert response.status_code == (200 if committed_db.is_sqlite else 500)
    async with committed_db.transaction(read_only=True) as session:
        count = await session.scalar(select(func.count()).select_from(Branch))
    assert count == 0


async def test_a_plain_read_connection_refuses_to_write(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    install_routes(committed_app)

    response = await committed_client.get("/probe-uow/through-plain-connection")

    assert response.status_code == 500
    assert await branch_codes(committed_db) == set()


async def test_a_plain_read_connection_sees_committed_rows_at_once(
    committed_db: Database,
) -> None:
    async with committed_db.transaction() as session:
        await create_branch(session, code="committed")
    connection = await committed_db.read_connection()
    try:
        codes = set((await connection.execute(select(Branch.code))).scalars())
        async with committed_db.transaction() as session:
            await create_branch(session, code="later")
        later = set((await connection.execute(select(Branch.code))).scalars())
    finally:
        await committed_db.release(connection)

    assert codes == {"committed"}
    assert later == {"committed", "later"}
