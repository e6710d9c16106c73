"""Sessions remember their identity provider and, sealed, the ID token that logging out at
that provider needs (`id_token_hint`).

Revision ID: 9e4b2c7d1a63
Revises: 7d3f9a1c2e54
Create Date: 2026-12-02 13:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e4b2c7d1a63"
down_revision: str | None = "7d3f9a1c2e54"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions") as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("provider_logout_hint", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions") as batch_op:
        batch_op.drop_column("provider_logout_hint")
        batch_op.drop_column("provider")
