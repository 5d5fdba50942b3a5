"""document_deliveries: rows up to 8 KB are stored as they are, not compressed

Revision ID: 5c1e8a7d2f46
Revises: 9a3e5c7b1d20
Create Date: 2026-12-02 22:40:00

A delivery's row holds the document's bytes only until the document is delivered, seconds
later, when the bytes are dropped. With the default ``toast_tuple_target`` (about 2 KB)
PostgreSQL compresses the bytes of any document over about 2 KB as it writes the row: for a
row rewritten moments later, and for files (PDFs) that are mostly compressed already. In
``bench.document_delivery`` ``pglz_compress`` was a sixth of PostgreSQL's CPU. Up to 8,160
bytes a row is now stored inline as is; larger documents are moved out of line as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5c1e8a7d2f46"
down_revision: str | Sequence[str] | None = "9a3e5c7b1d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE document_deliveries SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    op.execute("ALTER TABLE document_deliveries RESET (toast_tuple_target)")
