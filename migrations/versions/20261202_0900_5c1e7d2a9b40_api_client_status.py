"""Integrator clients get a status (`active`, `revoked`) run by their state machine.

Revision ID: 5c1e7d2a9b40
Revises: b262d14e4667
Create Date: 2026-12-02 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e7d2a9b40"
down_revision: str | None = "b262d14e4667"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

clients = sa.table(
    "api_clients",
    sa.column("active", sa.Boolean()),
    sa.column("status", sa.String(length=20)),
)


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="active")
        )
    op.execute(clients.update().where(clients.c.active.is_(False)).values(status="revoked"))
    with op.batch_alter_table("api_clients") as batch_op:
        batch_op.alter_column("status", server_default=None)
        batch_op.drop_column("active")


def downgrade() -> None:
    with op.batch_alter_table("api_clients") as batch_op:
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.execute(clients.update().where(clients.c.status != "active").values(active=False))
    with op.batch_alter_table("api_clients") as batch_op:
        batch_op.alter_column("active", server_default=None)
        batch_op.drop_column("status")
