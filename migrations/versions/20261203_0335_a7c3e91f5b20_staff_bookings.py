"""The analog path: bookings made by staff on a citizen's behalf (who booked, a postal address
instead of an e-mail address), and the reason staff gave for a cancellation or move.

Revision ID: a7c3e91f5b20
Revises: 9ec2180dd821
Create Date: 2026-12-03 03:35:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c3e91f5b20"
down_revision: str | None = "9ec2180dd821"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("booked_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("postal_address", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("change_reason", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_column("change_reason")
        batch_op.drop_column("postal_address")
        batch_op.drop_column("booked_by")
