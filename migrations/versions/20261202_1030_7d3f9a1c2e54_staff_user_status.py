"""Staff users get a status (`active`, `disabled`) run by their state machine, and a version.

Revision ID: 7d3f9a1c2e54
Revises: 5c1e7d2a9b40
Create Date: 2026-12-02 10:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3f9a1c2e54"
down_revision: str | None = "5c1e7d2a9b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

staff = sa.table(
    "staff_users",
    sa.column("active", sa.Boolean()),
    sa.column("status", sa.String(length=20)),
)


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="active")
        )
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.execute(staff.update().where(staff.c.active.is_(False)).values(status="disabled"))
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.alter_column("status", server_default=None)
        batch_op.alter_column("version", server_default=None)
        batch_op.drop_column("active")


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.execute(staff.update().where(staff.c.status != "active").values(active=False))
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.alter_column("active", server_default=None)
        batch_op.drop_column("version")
        batch_op.drop_column("status")
