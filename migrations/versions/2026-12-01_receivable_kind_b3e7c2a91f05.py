"""card sales: the receivable's kind (sale, or invoice_payment), reported apart in the summary

Revision ID: b3e7c2a91f05
Revises: 9a1c5e0d2b74
Create Date: 2026-12-01 23:50:00

Every row received so far was a sale.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3e7c2a91f05"
down_revision: str | Sequence[str] | None = "9a1c5e0d2b74"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("card_sales", sa.Column("kind", sa.String(length=24), server_default="sale", nullable=False))


def downgrade() -> None:
    op.drop_column("card_sales", "kind")
