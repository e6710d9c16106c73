"""The branch's day: check-in with a call number per branch and day, the visit completed with
its service time, and no-shows.

Revision ID: cd86982e78d0
Revises: 95d96de8efaa
Create Date: 2026-12-02 16:49:27.499399+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "cd86982e78d0"
down_revision: str | None = "95d96de8efaa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_numbers",
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.CheckConstraint("last >= 1", name=op.f("ck_call_numbers_last_positive")),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_call_numbers_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("branch_id", "day", name=op.f("pk_call_numbers")),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("checked_in_at", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("call_number", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("counter_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("completed_at", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("service_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("no_show_at", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("handled_by", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_bookings_status_starts_at"), ["status", "starts_at"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_bookings_counter_id_counters"), "counters", ["counter_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_bookings_counter_id_counters"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_bookings_status_starts_at"))
        batch_op.drop_column("handled_by")
        batch_op.drop_column("no_show_at")
        batch_op.drop_column("service_seconds")
        batch_op.drop_column("completed_at")
        batch_op.drop_column("counter_id")
        batch_op.drop_column("call_number")
        batch_op.drop_column("checked_in_at")

    op.drop_table("call_numbers")
