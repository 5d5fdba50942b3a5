"""tenants: locale and time zone (how the console shows the tenant's dates and money)

Revision ID: 4e8b2c6d1a97
Revises: 7c1e0a5d2f34
Create Date: 2026-12-02 02:00:00

Existing tenants keep what the console showed them until now: pt_BR in America/Sao_Paulo.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4e8b2c6d1a97"
down_revision: str | Sequence[str] | None = "7c1e0a5d2f34"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("locale", sa.String(16), server_default="pt_BR", nullable=False))
    op.add_column("tenants", sa.Column("timezone", sa.String(64), server_default="America/Sao_Paulo", nullable=False))


def downgrade() -> None:
    op.drop_column("tenants", "timezone")
    op.drop_column("tenants", "locale")
