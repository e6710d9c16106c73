"""Bookings are confirmed, verified, cancelled and moved: who comes (erased after the
retention), the verification code, the per-person cap, and cancelled capacity that returns
later.

Revision ID: 95d96de8efaa
Revises: e68c4bbbea08
Create Date: 2026-12-02 15:50:39.826240+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "95d96de8efaa"
down_revision: str | None = "e68c4bbbea08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person_quotas",
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.CheckConstraint("active >= 0", name=op.f("ck_person_quotas_active_not_negative")),
        sa.PrimaryKeyConstraint("person_key", name=op.f("pk_person_quotas")),
    )
    op.create_table(
        "capacity_returns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("returns_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "starts_at < ends_at", name=op.f("ck_capacity_returns_starts_before_ends")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_capacity_returns_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_returns")),
    )
    with op.batch_alter_table("capacity_returns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capacity_returns_branch_id_starts_at"),
            ["branch_id", "starts_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_capacity_returns_returns_at"), ["returns_at"], unique=False
        )

    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("language", sa.String(length=2), nullable=False, server_default="de")
        )
        batch_op.add_column(sa.Column("confirmed_via", sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column("verification_code_hash", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("verification_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("counts_in_quota", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("confirmed_at", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("cancelled_at", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reminder_sent_at", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "personal_data_erased_at", app.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("sequence", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_bookings_manage_token_hash"), ["manage_token_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_bookings_manage_token_hash"), type_="unique")
        batch_op.drop_column("sequence")
        batch_op.drop_column("personal_data_erased_at")
        batch_op.drop_column("reminder_sent_at")
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("counts_in_quota")
        batch_op.drop_column("verification_attempts")
        batch_op.drop_column("verification_code_hash")
        batch_op.drop_column("confirmed_via")
        batch_op.drop_column("language")
        batch_op.drop_column("phone")
        batch_op.drop_column("email")
        batch_op.drop_column("name")

    with op.batch_alter_table("capacity_returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_capacity_returns_returns_at"))
        batch_op.drop_index(batch_op.f("ix_capacity_returns_branch_id_starts_at"))

    op.drop_table("capacity_returns")
    op.drop_table("person_quotas")
