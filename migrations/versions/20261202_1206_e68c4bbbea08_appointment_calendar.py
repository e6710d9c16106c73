"""The appointment calendar: services, what each branch offers, counters, opening hours,
closures, capacity per branch and slot unit, and bookings (holds included).

Kept in one file so that it can be re-pointed at a new head by changing `down_revision` only.

Revision ID: e68c4bbbea08
Revises: 9e4b2c7d1a63
Create Date: 2026-12-02 12:06:05.360079+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "e68c4bbbea08"
down_revision: str | None = "9e4b2c7d1a63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appointment_services",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name_de", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("description_de", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("leika_key", sa.String(length=14), nullable=True),
        sa.Column("bring_de", sa.Text(), nullable=False),
        sa.Column("bring_en", sa.Text(), nullable=False),
        sa.Column("max_persons", sa.Integer(), nullable=False),
        sa.Column("lead_time_minutes", sa.Integer(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("release_minute", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "horizon_days BETWEEN 1 AND 365", name=op.f("ck_appointment_services_horizon_in_range")
        ),
        sa.CheckConstraint(
            "lead_time_minutes >= 0", name=op.f("ck_appointment_services_lead_time_not_negative")
        ),
        sa.CheckConstraint(
            "max_persons >= 1", name=op.f("ck_appointment_services_max_persons_positive")
        ),
        sa.CheckConstraint(
            "release_minute BETWEEN 0 AND 1439",
            name=op.f("ck_appointment_services_release_minute_in_day"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_services")),
        sa.UniqueConstraint("code", name=op.f("uq_appointment_services_code")),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("person_key", sa.String(length=64), nullable=True),
        sa.Column("manage_token_hash", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("persons >= 1", name=op.f("ck_bookings_persons_positive")),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_bookings_starts_before_ends")),
        sa.CheckConstraint("units >= 1", name=op.f("ck_bookings_units_positive")),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_bookings_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["appointment_services.id"],
            name=op.f("fk_bookings_service_id_appointment_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("reference", name=op.f("uq_bookings_reference")),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bookings_branch_id_starts_at"), ["branch_id", "starts_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bookings_person_key"), ["person_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_bookings_status_expires_at"), ["status", "expires_at"], unique=False
        )

    op.create_table(
        "branch_calendars",
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("unit_minutes", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "unit_minutes BETWEEN 5 AND 60 AND 60 % unit_minutes = 0",
            name=op.f("ck_branch_calendars_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_branch_calendars_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("branch_id", name=op.f("pk_branch_calendars")),
    )
    op.create_table(
        "branch_services",
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("units_per_extra_person", sa.Integer(), nullable=False),
        sa.CheckConstraint("units >= 1", name=op.f("ck_branch_services_units_positive")),
        sa.CheckConstraint(
            "units_per_extra_person >= 0", name=op.f("ck_branch_services_extra_units_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_branch_services_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["appointment_services.id"],
            name=op.f("fk_branch_services_service_id_appointment_services"),
        ),
        sa.PrimaryKeyConstraint("branch_id", "service_id", name=op.f("pk_branch_services")),
    )
    with op.batch_alter_table("branch_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_branch_services_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "capacity_days",
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("released_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_capacity_days_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("branch_id", "day", name=op.f("pk_capacity_days")),
    )
    op.create_table(
        "capacity_units",
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "used >= 0 AND used <= capacity", name=op.f("ck_capacity_units_used_within_capacity")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_capacity_units_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("branch_id", "starts_at", name=op.f("pk_capacity_units")),
    )
    op.create_table(
        "counters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("online_share_percent", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "online_share_percent BETWEEN 0 AND 100", name=op.f("ck_counters_share_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_counters_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counters")),
    )
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_counters_branch_id_name"), ["branch_id", "name"], unique=True
        )

    op.create_table(
        "opening_hours",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Time(), nullable=False),
        sa.Column("closes", sa.Time(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.CheckConstraint("opens < closes", name=op.f("ck_opening_hours_opens_before_closes")),
        sa.CheckConstraint(
            "weekday BETWEEN 0 AND 6", name=op.f("ck_opening_hours_weekday_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_opening_hours_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opening_hours")),
    )
    with op.batch_alter_table("opening_hours", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_opening_hours_branch_id_weekday"), ["branch_id", "weekday"], unique=False
        )

    op.create_table(
        "closures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("counter_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason_de", sa.String(length=200), nullable=False),
        sa.Column("reason_en", sa.String(length=200), nullable=False),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_closures_starts_before_ends")),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_closures_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["counter_id"], ["counters.id"], name=op.f("fk_closures_counter_id_counters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closures")),
    )
    with op.batch_alter_table("closures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_closures_branch_id_starts_at"), ["branch_id", "starts_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("closures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_closures_branch_id_starts_at"))

    op.drop_table("closures")
    with op.batch_alter_table("opening_hours", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opening_hours_branch_id_weekday"))

    op.drop_table("opening_hours")
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_counters_branch_id_name"))

    op.drop_table("counters")
    op.drop_table("capacity_units")
    op.drop_table("capacity_days")
    with op.batch_alter_table("branch_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branch_services_service_id"))

    op.drop_table("branch_services")
    op.drop_table("branch_calendars")
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bookings_status_expires_at"))
        batch_op.drop_index(batch_op.f("ix_bookings_person_key"))
        batch_op.drop_index(batch_op.f("ix_bookings_branch_id_starts_at"))

    op.drop_table("bookings")
    op.drop_table("appointment_services")
