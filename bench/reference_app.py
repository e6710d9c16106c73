"""The reference app: minimal FastAPI, no middleware, the branch list through SQLAlchemy Core.

The bench serves it exactly like the project (uvicorn, same worker count, uvloop, httptools, no
access log) against the same database, and reads the project's figures as ratios to it:

- `/healthz` answers `{"status": "ok"}` and nothing else: the framework's own cost;
- `/api/v1/branches?limit=N` runs the project's branch-list `SELECT` (every column of
  `branches`, ordered by name and id, `LIMIT N+1`) on a plainly pooled async engine and answers
  the project's JSON: this is what SQLAlchemy Core costs, not a straw man.

It shares nothing with the project's code but the database: the table is declared here, and the
answer is built from plain dicts. `python -m uvicorn --factory bench.reference_app:create` with
the variables below set.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    MetaData,
    RowMapping,
    String,
    Table,
    Uuid,
    bindparam,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DATABASE_URL_VARIABLE = "BENCH_REFERENCE_DATABASE_URL"
POOL_SIZE_VARIABLE = "BENCH_REFERENCE_POOL_SIZE"

# The columns as the migrations create them; only the types matter to a SELECT.
branches = Table(
    "branches",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("code", String),
    Column("name", String),
    Column("street", String),
    Column("house_number", String),
    Column("postal_code", String),
    Column("city", String),
    Column("district", String),
    Column("phone", String),
    Column("email", String),
    Column("wheelchair_accessible", Boolean),
    Column("latitude", Double),
    Column("longitude", Double),
    Column("version", Integer),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

LIST_BRANCHES = (
    select(branches).order_by(branches.c.name, branches.c.id).limit(bindparam("row_limit"))
)


def create() -> FastAPI:
    """One app per worker process, with its own engine: a pool of the project's default size,
    no pre-ping at checkout."""
    pool_size = int(os.environ[POOL_SIZE_VARIABLE])
    engine = create_async_engine(
        os.environ[DATABASE_URL_VARIABLE], pool_size=pool_size, max_overflow=pool_size // 2
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.add_api_route("/healthz", healthz)
    app.add_api_route("/api/v1/branches", _list_branches_route(engine))
    return app


async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _list_branches_route(engine: AsyncEngine) -> Any:
    async def list_branches(
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        async with engine.connect() as connection:
            result = await connection.execute(LIST_BRANCHES, {"row_limit": limit + 1})
            rows = result.mappings().all()
        # The demo branches fit on one page, and the bench checks that this answer equals the
        # project's, so a page that needed a cursor would be noticed rather than measured.
        return {"items": [_branch(row) for row in rows[:limit]], "next_cursor": None}

    return list_branches


def _branch(row: RowMapping) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "code": row["code"],
        "name": row["name"],
        "address": {
            "street": row["street"],
            "house_number": row["house_number"],
            "postal_code": row["postal_code"],
            "city": row["city"],
        },
        "district": row["district"],
        "phone": row["phone"],
        "email": row["email"],
        "wheelchair_accessible": row["wheelchair_accessible"],
        "latitude": row["latitude"],
        "longitude": row["longitude"],
        "version": row["version"],
    }
