"""narrow sale_matches: rule and differences as codes; tenant and day come from the sale

Revision ID: a41c07e9d2b5
Revises: fe6ea4d32bde
Create Date: 2026-11-24 23:59:00

Matches are derived data: the table is emptied and every run rebuilds its days (the daily run,
or an on-demand run).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a41c07e9d2b5"
down_revision: str | Sequence[str] | None = "fe6ea4d32bde"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("TRUNCATE sale_matches")
    op.drop_column("sale_matches", "tenant_id")
    op.drop_column("sale_matches", "local_day")
    op.drop_column("sale_matches", "tier")
    op.drop_column("sale_matches", "rule")
    op.drop_column("sale_matches", "differences")
    op.add_column("sale_matches", sa.Column("rule", sa.SmallInteger(), nullable=False))
    op.add_column("sale_matches", sa.Column("differences", sa.SmallInteger(), nullable=False))


def downgrade() -> None:
    op.execute("TRUNCATE sale_matches")
    op.drop_column("sale_matches", "differences")
    op.drop_column("sale_matches", "rule")
    op.add_column("sale_matches", sa.Column("tenant_id", sa.Uuid(), nullable=False))
    op.add_column("sale_matches", sa.Column("local_day", sa.Date(), nullable=False))
    op.add_column("sale_matches", sa.Column("tier", sa.SmallInteger(), nullable=False))
    op.add_column("sale_matches", sa.Column("rule", sa.String(length=100), nullable=False))
    op.add_column("sale_matches", sa.Column("differences", postgresql.ARRAY(sa.String(length=32)), nullable=False))
