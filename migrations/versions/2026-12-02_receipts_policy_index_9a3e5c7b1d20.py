"""policy_receipts: the policy index is (tenant_id, policy_number), without the insurer

Revision ID: 9a3e5c7b1d20
Revises: 4e8b2c6d1a97
Create Date: 2026-12-02 05:00:00

``(tenant_id, insurer, policy_number)`` shares its leading columns with the unique key
``(tenant_id, insurer, receipt_number)``. Before the table's first ANALYZE both look like one
row per lookup, and the planner may probe an import's receipt numbers through the policy
index, filtering every receipt of the insurer for each number: each page then costs more as
the table grows (13 s per 1,000-policy page at 30,000 receipts). Without the insurer the
index still serves every lookup of a policy's receipts (a policy number is all but unique
within a tenant) and is no candidate for a receipt's: kept as its third column, PostgreSQL 18
chose a skip scan over it instead.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9a3e5c7b1d20"
down_revision: str | Sequence[str] | None = "4e8b2c6d1a97"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_policy_receipts_policy", table_name="policy_receipts")
    op.create_index("ix_policy_receipts_policy", "policy_receipts", ["tenant_id", "policy_number"])


def downgrade() -> None:
    op.drop_index("ix_policy_receipts_policy", table_name="policy_receipts")
    op.create_index("ix_policy_receipts_policy", "policy_receipts", ["tenant_id", "insurer", "policy_number"])
