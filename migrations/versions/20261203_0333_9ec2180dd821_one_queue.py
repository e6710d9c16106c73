"""One queue: walk-in tickets on the walk-in share of each day's capacity, their budget per
branch and day, the calls to a counter, and the called appointment.

Revision ID: 9ec2180dd821
Revises: cd86982e78d0
Create Date: 2026-12-03 03:33:06.635297+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "9ec2180dd821"
down_revision: str | None = "cd86982e78d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "walk_in_budgets",
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.Column("turned_away", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "last_number >= 0", name=op.f("ck_walk_in_budgets_last_number_not_negative")
        ),
        sa.CheckConstraint(
            "used >= 0 AND used <= capacity", name=op.f("ck_walk_in_budgets_used_within_capacity")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_walk_in_budgets_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("branch_id", "day", name=op.f("pk_walk_in_budgets")),
    )
    op.create_table(
        "walk_in_tickets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("call_number", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("drawn_by", sa.String(length=100), nullable=False),
        sa.Column("drawn_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("called_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("called_by", sa.Uuid(), nullable=True),
        sa.Column("counter_id", sa.Uuid(), nullable=True),
        sa.Column("completed_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("service_seconds", sa.Integer(), nullable=True),
        sa.Column("no_show_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handled_by", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("persons >= 1", name=op.f("ck_walk_in_tickets_persons_positive")),
        sa.CheckConstraint("units >= 1", name=op.f("ck_walk_in_tickets_units_positive")),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_walk_in_tickets_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["counter_id"], ["counters.id"], name=op.f("fk_walk_in_tickets_counter_id_counters")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["appointment_services.id"],
            name=op.f("fk_walk_in_tickets_service_id_appointment_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_walk_in_tickets")),
    )
    with op.batch_alter_table("walk_in_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_walk_in_tickets_branch_id_day_number"),
            ["branch_id", "day", "number"],
            unique=True,
        )
        batch_op.create_index(
            batch_op.f("ix_walk_in_tickets_branch_id_day_status"),
            ["branch_id", "day", "status"],
            unique=False,
        )

    op.create_table(
        "queue_calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("call_number", sa.String(length=10), nullable=False),
        sa.Column("counter_id", sa.Uuid(), nullable=False),
        sa.Column("called_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("called_by", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "(booking_id IS NULL) <> (ticket_id IS NULL)",
            name=op.f("ck_queue_calls_booking_or_ticket"),
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_queue_calls_booking_id_bookings")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_queue_calls_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["counter_id"], ["counters.id"], name=op.f("fk_queue_calls_counter_id_counters")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["walk_in_tickets.id"],
            name=op.f("fk_queue_calls_ticket_id_walk_in_tickets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_calls")),
    )
    with op.batch_alter_table("queue_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_queue_calls_branch_id_called_at"),
            ["branch_id", "called_at"],
            unique=False,
        )

    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("called_at", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("called_by", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_column("called_by")
        batch_op.drop_column("called_at")

    with op.batch_alter_table("queue_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queue_calls_branch_id_called_at"))

    op.drop_table("queue_calls")
    with op.batch_alter_table("walk_in_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_walk_in_tickets_branch_id_day_status"))
        batch_op.drop_index(batch_op.f("ix_walk_in_tickets_branch_id_day_number"))

    op.drop_table("walk_in_tickets")
    op.drop_table("walk_in_budgets")
