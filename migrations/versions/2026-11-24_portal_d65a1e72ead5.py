"""portal

Revision ID: d65a1e72ead5
Revises: ee825b8860ba
Create Date: 2026-11-24 20:41:53.802157
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d65a1e72ead5"
down_revision: str | Sequence[str] | None = "ee825b8860ba"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_connections",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("credentials", sa.LargeBinary(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_ok", sa.Boolean(), nullable=False),
        sa.Column("check_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portal_connections_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_portal_connections")),
    )
    op.create_table(
        "portal_records",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=120), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("hash", sa.String(length=32), nullable=False),
        sa.Column("updated_at_source", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_task_id", sa.Uuid(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portal_records_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "entity", "external_id", name=op.f("pk_portal_records")),
    )
    op.create_index(
        "ix_portal_records_family_id",
        "portal_records",
        ["tenant_id", "entity", sa.text("(data ->> 'family_id')")],
        unique=False,
        postgresql_where=sa.text("data ? 'family_id'"),
    )
    op.create_index(
        "ix_portal_records_beneficiary_id",
        "portal_records",
        ["tenant_id", "entity", sa.text("(data ->> 'beneficiary_id')")],
        unique=False,
        postgresql_where=sa.text("data ? 'beneficiary_id'"),
    )
    op.create_index(
        "ix_portal_records_provider_id",
        "portal_records",
        ["tenant_id", "entity", sa.text("(data ->> 'provider_id')")],
        unique=False,
        postgresql_where=sa.text("data ? 'provider_id'"),
    )
    op.create_table(
        "portal_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=120), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("export_status", sa.String(length=16), nullable=False),
        sa.Column("export_error", sa.Text(), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("protocol", sa.String(length=64), nullable=True),
        sa.Column("situation", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("situation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portal_requests_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_requests")),
    )
    op.create_index(
        "ix_portal_requests_pending",
        "portal_requests",
        ["tenant_id", "kind"],
        unique=False,
        postgresql_where="export_status = 'pending'",
    )
    op.create_index(
        "ix_portal_requests_tenant_created", "portal_requests", ["tenant_id", "created_at", "id"], unique=False
    )
    op.create_table(
        "portal_sync_states",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("sync_key", sa.String(length=100), nullable=False),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("heavy_acknowledged", sa.Boolean(), nullable=False),
        sa.Column("schedule_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_task_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portal_sync_states_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "sync_key", name=op.f("pk_portal_sync_states")),
    )
    op.create_table(
        "portal_request_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["portal_requests.id"],
            name=op.f("fk_portal_request_events_request_id_portal_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_request_events")),
        sa.UniqueConstraint("request_id", "step", name=op.f("uq_portal_request_events_request_id_step")),
    )
    op.create_table(
        "portal_sync_failures",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=120), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("record", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_portal_sync_failures_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portal_sync_failures_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sync_failures")),
    )
    op.create_index("ix_portal_sync_failures_task", "portal_sync_failures", ["task_id", "id"], unique=False)
    # ### end Alembic commands ###


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index("ix_portal_sync_failures_task", table_name="portal_sync_failures")
    op.drop_table("portal_sync_failures")
    op.drop_table("portal_request_events")
    op.drop_table("portal_sync_states")
    op.drop_index("ix_portal_requests_tenant_created", table_name="portal_requests")
    op.drop_index(
        "ix_portal_requests_pending", table_name="portal_requests", postgresql_where="export_status = 'pending'"
    )
    op.drop_table("portal_requests")
    op.drop_index("ix_portal_records_family_id", table_name="portal_records")
    op.drop_index("ix_portal_records_beneficiary_id", table_name="portal_records")
    op.drop_index("ix_portal_records_provider_id", table_name="portal_records")
    op.drop_table("portal_records")
    op.drop_table("portal_connections")
    # ### end Alembic commands ###
