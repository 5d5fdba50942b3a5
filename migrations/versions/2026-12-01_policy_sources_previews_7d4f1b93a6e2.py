"""several connections per insurer and option set; policy sources; import previews

Revision ID: 7d4f1b93a6e2
Revises: 5c2e8a17f0b3
Create Date: 2026-12-01 23:30:00

Policies are keyed on their underwriting insurer from now on. Every stored policy was read
from its ``insurer`` so far, which becomes its first recorded source. Policies an aggregator
imported before keep the aggregator's code until the aggregator next reads them and names
the underwriter: the import then moves them (with their receipts) instead of duplicating.

Downgrading needs at most one connection per (tenant, insurer) again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7d4f1b93a6e2"
down_revision: str | Sequence[str] | None = "5c2e8a17f0b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("uq_insurer_connections_tenant_id_insurer", "insurer_connections", type_="unique")
    op.create_unique_constraint(
        op.f("uq_insurer_connections_tenant_id_insurer_options"),
        "insurer_connections",
        ["tenant_id", "insurer", "options"],
    )
    op.create_table(
        "policy_sources",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("insurer", sa.String(length=40), nullable=False),
        sa.Column("policy_number", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_task_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["insurer_connections.id"],
            name=op.f("fk_policy_sources_connection_id_insurer_connections"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_policy_sources_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_sources")),
        sa.UniqueConstraint(
            "tenant_id", "insurer", "policy_number", "source",
            name=op.f("uq_policy_sources_tenant_id_insurer_policy_number_source"),
        ),
    )  # fmt: skip
    op.execute(
        "INSERT INTO policy_sources (tenant_id, insurer, policy_number, source, connection_id, first_seen_at,"
        " last_seen_at) SELECT p.tenant_id, p.insurer, p.policy_number, p.insurer, c.id, p.created_at, p.updated_at"
        " FROM policies p LEFT JOIN insurer_connections c ON c.tenant_id = p.tenant_id AND c.insurer = p.insurer"
    )
    op.create_table(
        "import_preview_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("policy_number", sa.String(length=100), nullable=True),
        sa.Column("insurer", sa.String(length=40), nullable=True),
        sa.Column("holder_name", sa.String(length=300), nullable=True),
        sa.Column("product", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("updated_on", sa.Date(), nullable=True),
        sa.Column("in_ponte", sa.Boolean(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("preselected", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_import_preview_items_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_import_preview_items_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_preview_items")),
    )
    op.create_index("ix_import_preview_items_task", "import_preview_items", ["task_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_import_preview_items_task", table_name="import_preview_items")
    op.drop_table("import_preview_items")
    op.drop_table("policy_sources")
    op.drop_constraint("uq_insurer_connections_tenant_id_insurer_options", "insurer_connections", type_="unique")
    op.create_unique_constraint(
        op.f("uq_insurer_connections_tenant_id_insurer"), "insurer_connections", ["tenant_id", "insurer"]
    )
