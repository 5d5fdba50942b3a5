"""insurer connection health (credentials last worked) and receipts settled at the broker

Revision ID: 5c2e8a17f0b3
Revises: 3b7d9e21c4a0
Create Date: 2026-12-01 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c2e8a17f0b3"
down_revision: str | Sequence[str] | None = "3b7d9e21c4a0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("insurer_connections", sa.Column("credentials_ok", sa.Boolean(), nullable=True))
    op.add_column("insurer_connections", sa.Column("credentials_checked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("insurer_connections", sa.Column("credentials_error", sa.String(length=64), nullable=True))
    op.add_column("policy_receipts", sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("policy_receipts", "settled_at")
    op.drop_column("insurer_connections", "credentials_error")
    op.drop_column("insurer_connections", "credentials_checked_at")
    op.drop_column("insurer_connections", "credentials_ok")
