"""core system: the edition it declares and the TISS tables version Ponte last synced for

Revision ID: 9a1c5e0d2b74
Revises: 7d4f1b93a6e2
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9a1c5e0d2b74"
down_revision: str | Sequence[str] | None = "7d4f1b93a6e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("portal_connections", sa.Column("edition", sa.String(length=32), nullable=True))
    op.add_column("portal_connections", sa.Column("tables_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("portal_connections", "tables_version")
    op.drop_column("portal_connections", "edition")
