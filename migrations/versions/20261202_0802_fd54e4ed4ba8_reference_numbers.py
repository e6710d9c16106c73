"""Reference numbers for citizens, unique within their kind (booking, application, payment).

Revision ID: fd54e4ed4ba8
Revises: a51b0a62e978
Create Date: 2026-12-02 08:02:15.049598+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "fd54e4ed4ba8"
down_revision: str | None = "a51b0a62e978"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reference_numbers",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=20), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_reference_numbers")),
    )


def downgrade() -> None:
    op.drop_table("reference_numbers")
