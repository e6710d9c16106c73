"""The waiting list for earlier slots, and capacity offers: freed units held for one waiting
person at a time before they reach the public calendar.

Revision ID: 58abbb2d8c9e
Revises: a7c3e91f5b20
Create Date: 2026-12-03 03:33:48.059803+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "58abbb2d8c9e"
down_revision: str | None = "a7c3e91f5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "waiting_list_quotas",
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.CheckConstraint("active >= 0", name=op.f("ck_waiting_list_quotas_active_not_negative")),
        sa.PrimaryKeyConstraint("person_key", name=op.f("pk_waiting_list_quotas")),
    )
    op.create_table(
        "waiting_list_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("latest_day", sa.Date(), nullable=True),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("person_key", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("confirmed_via", sa.String(length=10), nullable=False),
        sa.Column("manage_token_hash", sa.String(length=64), nullable=True),
        sa.Column("verification_code_hash", sa.String(length=64), nullable=True),
        sa.Column("verification_attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("persons >= 1", name=op.f("ck_waiting_list_entries_persons_positive")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_waiting_list_entries_booking_id_bookings"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["appointment_services.id"],
            name=op.f("fk_waiting_list_entries_service_id_appointment_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waiting_list_entries")),
        sa.UniqueConstraint(
            "manage_token_hash", name=op.f("uq_waiting_list_entries_manage_token_hash")
        ),
    )
    with op.batch_alter_table("waiting_list_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_waiting_list_entries_booking_id"), ["booking_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_waiting_list_entries_status_created_at"),
            ["status", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_waiting_list_entries_status_ends_at"),
            ["status", "ends_at"],
            unique=False,
        )

    op.create_table(
        "capacity_offers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "starts_at < ends_at", name=op.f("ck_capacity_offers_starts_before_ends")
        ),
        sa.CheckConstraint("units >= 1", name=op.f("ck_capacity_offers_units_positive")),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_capacity_offers_booking_id_bookings")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_capacity_offers_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["waiting_list_entries.id"],
            name=op.f("fk_capacity_offers_entry_id_waiting_list_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["appointment_services.id"],
            name=op.f("fk_capacity_offers_service_id_appointment_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_offers")),
    )
    with op.batch_alter_table("capacity_offers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capacity_offers_branch_id_starts_at"),
            ["branch_id", "starts_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_capacity_offers_status_expires_at"),
            ["status", "expires_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_capacity_offers_live_entry",
            ["entry_id"],
            unique=True,
            postgresql_where=sa.text("status = 'offered'"),
            sqlite_where=sa.text("status = 'offered'"),
        )

    op.create_table(
        "waiting_list_branches",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_waiting_list_branches_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["waiting_list_entries.id"],
            name=op.f("fk_waiting_list_branches_entry_id_waiting_list_entries"),
        ),
        sa.PrimaryKeyConstraint("entry_id", "branch_id", name=op.f("pk_waiting_list_branches")),
    )
    with op.batch_alter_table("waiting_list_branches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_waiting_list_branches_branch_id"), ["branch_id"], unique=False
        )

    op.create_table(
        "capacity_offer_passes",
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["waiting_list_entries.id"],
            name=op.f("fk_capacity_offer_passes_entry_id_waiting_list_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["capacity_offers.id"],
            name=op.f("fk_capacity_offer_passes_offer_id_capacity_offers"),
        ),
        sa.PrimaryKeyConstraint("offer_id", "entry_id", name=op.f("pk_capacity_offer_passes")),
    )


def downgrade() -> None:
    op.drop_table("capacity_offer_passes")
    with op.batch_alter_table("waiting_list_branches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waiting_list_branches_branch_id"))

    op.drop_table("waiting_list_branches")
    with op.batch_alter_table("capacity_offers", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_capacity_offers_live_entry",
            postgresql_where=sa.text("status = 'offered'"),
            sqlite_where=sa.text("status = 'offered'"),
        )
        batch_op.drop_index(batch_op.f("ix_capacity_offers_status_expires_at"))
        batch_op.drop_index(batch_op.f("ix_capacity_offers_branch_id_starts_at"))

    op.drop_table("capacity_offers")
    with op.batch_alter_table("waiting_list_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waiting_list_entries_status_ends_at"))
        batch_op.drop_index(batch_op.f("ix_waiting_list_entries_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_waiting_list_entries_booking_id"))

    op.drop_table("waiting_list_entries")
    op.drop_table("waiting_list_quotas")
