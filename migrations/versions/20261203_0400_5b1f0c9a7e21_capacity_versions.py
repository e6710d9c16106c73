"""Capacity versions: a counter per branch that every committed change of what availability
shows moves on, so that an answer can be kept until one of its branches changes.

Triggers keep it, whoever writes: every insert, update or delete of `capacity_units` bumps its
branch; a booking whose `expires_at` moves earlier (its places come back sooner) bumps its
branch; a change of `appointment_services`, `branch_services` or `branch_calendars` bumps the
global row (the nil UUID), which every check reads too. On PostgreSQL the triggers are
deferred constraint triggers: the bump runs at commit, so the counter's row lock is held only
for the commit itself and not across a booking's whole transaction.

Revision ID: 5b1f0c9a7e21
Revises: 58abbb2d8c9e
Create Date: 2026-12-03 04:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1f0c9a7e21"
down_revision: str | None = "58abbb2d8c9e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GLOBAL_PG = "'00000000-0000-0000-0000-000000000000'::uuid"
GLOBAL_SQLITE = "'00000000000000000000000000000000'"

BRANCH_TABLES = ("capacity_units",)
GLOBAL_TABLES = ("appointment_services", "branch_services", "branch_calendars")
EXPIRY_EARLIER = (
    "NEW.expires_at IS NOT NULL AND (OLD.expires_at IS NULL OR NEW.expires_at < OLD.expires_at)"
)


def upgrade() -> None:
    op.create_table(
        "capacity_versions",
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("branch_id", name=op.f("pk_capacity_versions")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql() -> None:
    upsert = (
        "INSERT INTO capacity_versions (branch_id, version) VALUES ({key}, 1) "
        "ON CONFLICT (branch_id) DO UPDATE SET version = capacity_versions.version + 1; "
    )
    op.execute(
        "CREATE FUNCTION capacity_version_bump_branch() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE b uuid; BEGIN "
        "IF TG_OP = 'DELETE' THEN b := OLD.branch_id; ELSE b := NEW.branch_id; END IF; "
        f"{upsert.format(key='b')}RETURN NULL; END $$"
    )
    op.execute(
        "CREATE FUNCTION capacity_version_bump_all() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {upsert.format(key=GLOBAL_PG)}RETURN NULL; END $$"
    )
    for table in BRANCH_TABLES:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER capacity_version_{table} "
            f"AFTER INSERT OR UPDATE OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION capacity_version_bump_branch()"
        )
    op.execute(
        "CREATE CONSTRAINT TRIGGER capacity_version_bookings "
        "AFTER UPDATE OF expires_at ON bookings DEFERRABLE INITIALLY DEFERRED "
        f"FOR EACH ROW WHEN ({EXPIRY_EARLIER}) EXECUTE FUNCTION capacity_version_bump_branch()"
    )
    for table in GLOBAL_TABLES:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER capacity_version_{table} "
            f"AFTER INSERT OR UPDATE OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION capacity_version_bump_all()"
        )


def _sqlite_bump(key: str) -> str:
    return (
        f"INSERT INTO capacity_versions (branch_id, version) VALUES ({key}, 1) "  # noqa: S608
        "ON CONFLICT (branch_id) DO UPDATE SET version = version + 1;"
    )


def _upgrade_sqlite() -> None:
    for table in BRANCH_TABLES:
        for operation, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER capacity_version_{table}_{operation.lower()} "
                f"AFTER {operation} ON {table} FOR EACH ROW BEGIN "
                f"{_sqlite_bump(f'{row}.branch_id')} END"
            )
    op.execute(
        "CREATE TRIGGER capacity_version_bookings AFTER UPDATE OF expires_at ON bookings "
        f"FOR EACH ROW WHEN {EXPIRY_EARLIER} BEGIN {_sqlite_bump('NEW.branch_id')} END"
    )
    for table in GLOBAL_TABLES:
        for operation in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER capacity_version_{table}_{operation.lower()} "
                f"AFTER {operation} ON {table} FOR EACH ROW BEGIN "
                f"{_sqlite_bump(GLOBAL_SQLITE)} END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in (*BRANCH_TABLES, "bookings", *GLOBAL_TABLES):
            op.execute(f"DROP TRIGGER capacity_version_{table} ON {table}")
        op.execute("DROP FUNCTION capacity_version_bump_branch()")
        op.execute("DROP FUNCTION capacity_version_bump_all()")
    else:
        for table in (*BRANCH_TABLES, *GLOBAL_TABLES):
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER capacity_version_{table}_{operation}")
        op.execute("DROP TRIGGER capacity_version_bookings")
    op.drop_table("capacity_versions")
