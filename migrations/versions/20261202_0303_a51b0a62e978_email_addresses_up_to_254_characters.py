"""E-mail addresses up to 254 characters (RFC 5321), as the validator accepts them.

Revision ID: a51b0a62e978
Revises: af45d78e17ae
Create Date: 2026-12-02 03:03:17.769811+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a51b0a62e978"
down_revision: str | None = "af45d78e17ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("branches", "departments", "staff_users")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(
                "email",
                existing_type=sa.String(length=200),
                type_=sa.String(length=254),
                existing_nullable=True,
            )


def downgrade() -> None:
    # An address longer than 200 characters does not fit back, and a cut one would reach
    # somebody else: it is removed instead.
    for table in reversed(TABLES):
        rows = sa.table(table, sa.column("email", sa.String()))
        op.execute(rows.update().where(sa.func.length(rows.c.email) > 200).values(email=None))
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(
                "email",
                existing_type=sa.String(length=254),
                type_=sa.String(length=200),
                existing_nullable=True,
            )
