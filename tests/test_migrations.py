"""The schema comes only from Alembic, and the migrations match the models."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.core.db import create_engine
from app.core.migrations import alembic_config, downgrade, head_revisions, upgrade
from app.models import Base
from tests.conftest import make_settings

APP_TABLES = {t.name for t in Base.metadata.sorted_tables}


def _run(database_url: str, fn):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        engine = create_engine(make_settings(database_url), pooled=False)
        try:
            async with engine.connect() as connection:
                result = await connection.run_sync(fn)
                await connection.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade_round_trip(fresh_database_url: str) -> None:
    upgrade(fresh_database_url)
    assert _run(fresh_database_url, _tables) == APP_TABLES

    downgrade(fresh_database_url, "base")
    assert _run(fresh_database_url, _tables) == set()

    upgrade(fresh_database_url)
    assert _run(fresh_database_url, _tables) == APP_TABLES


def test_models_and_migrations_do_not_differ(database_url: str) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))

    assert _run(database_url, diff) == []


def test_database_is_at_the_single_head(database_url: str) -> None:
    def current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    assert len(head_revisions()) == 1
    assert _run(database_url, current) == head_revisions()


def test_audit_log_rejects_updates(database_url: str) -> None:
    def tamper(connection: Connection) -> str:
        connection.execute(
            text(
                "INSERT INTO audit_log (occurred_at, actor_type, action, object_type, summary) "
                "VALUES (CURRENT_TIMESTAMP, 'system', 'test.tamper', 'test', '{}')"
            )
        )
        try:
            with connection.begin_nested():
                connection.execute(text("UPDATE audit_log SET action = 'forged'"))
        except DBAPIError as exc:
            return "rejected" if "append-only" in str(exc) else f"other error: {exc}"
        finally:
            connection.rollback()
        return "accepted"

    assert _run(database_url, tamper) == "rejected"


def test_alembic_check_finds_nothing_to_generate(database_url: str) -> None:
    """The same check as `alembic check` on the command line: it raises on any difference."""
    command.check(alembic_config(database_url))


def test_every_relationship_loads_only_when_asked() -> None:
    """`lazy="raise"` everywhere: an accidental lazy load fails in tests, not in production."""
    lazy = [
        f"{mapper.class_.__name__}.{relationship.key}: {relationship.lazy}"
        for mapper in Base.registry.mappers
        for relationship in mapper.relationships
        if relationship.lazy != "raise"
    ]

    assert lazy == []
