"""webhook_events.body: compressed by Ponte (LZ4), so PostgreSQL stores it without pglz

Revision ID: b7d4e2a9c613
Revises: 5c1e8a7d2f46
Create Date: 2026-12-03 00:50:00

The gateway now stores a body of 2 KB or more as an LZ4 frame when that saves a tenth
(gateway/db/compressed.py). ``STORAGE EXTERNAL`` keeps PostgreSQL from running pglz over it
again, or over a body LZ4 could not shrink (a PDF in base64, where pglz spent its CPU and
then kept the bytes as they were); a large value is still moved out of line. Rows stored
before are read as they are.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7d4e2a9c613"
down_revision: str | Sequence[str] | None = "5c1e8a7d2f46"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE webhook_events ALTER COLUMN body SET STORAGE EXTERNAL")


def downgrade() -> None:
    # Rows stored meanwhile stay LZ4 frames, which the reader expands whatever the storage.
    op.execute("ALTER TABLE webhook_events ALTER COLUMN body SET STORAGE EXTENDED")
