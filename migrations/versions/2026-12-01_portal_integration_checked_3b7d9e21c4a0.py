"""document portal integration: checked_at (deliveries wait for a checked connection)

Revision ID: 3b7d9e21c4a0
Revises: a41c07e9d2b5
Create Date: 2026-12-01 23:00:00

Integrations enabled before this revision were working with their token, so they count as
checked when they were last updated.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b7d9e21c4a0"
down_revision: str | Sequence[str] | None = "a41c07e9d2b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("document_portal_integrations", sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE document_portal_integrations SET checked_at = updated_at"
        " WHERE enabled AND token_encrypted IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("document_portal_integrations", "checked_at")
