"""Kiosk clients bound to a branch: a client with the scope `appointments:tickets` draws
walk-in tickets only at its own branch.

Revision ID: 85c47d25f459
Revises: 5b1f0c9a7e21
Create Date: 2026-12-03 06:45:52.746769+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "85c47d25f459"
down_revision: str | None = "5b1f0c9a7e21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("branch_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_clients_branch_id_branches"), "branches", ["branch_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_api_clients_branch_id_branches"), type_="foreignkey"
        )
        batch_op.drop_column("branch_id")
