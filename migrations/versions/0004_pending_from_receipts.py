"""pending points read from the queued receipts, not kept on the member

Revision ID: 0004_pending_from_receipts
Revises: 0003_profiles
Create Date: 2026-12-06 20:45:00

A member's pending points were a counter on the member row that every recorded receipt
raised and the engine lowered, so ingestion and the engine wrote the same row. They are now
the sum of the member's queued sales' `points_pending`, read through a partial index.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_pending_from_receipts"
down_revision = "0003_profiles"
branch_labels = None
depends_on = None

QUEUED = sa.text("status = 'queued'")


def upgrade():
    op.create_index(
        "ix_transactions_queued",
        "transactions",
        ["member_id", "points_pending"],
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    with op.batch_alter_table("members") as batch:
        batch.drop_column("points_pending")


def downgrade():
    with op.batch_alter_table("members") as batch:
        batch.add_column(
            sa.Column("points_pending", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE members SET points_pending = COALESCE((SELECT SUM(t.points_pending) "
        "FROM transactions t WHERE t.member_id = members.id AND t.status = 'queued'), 0)"
    )
    with op.batch_alter_table("members") as batch:
        batch.alter_column("points_pending", server_default=None)
    op.drop_index("ix_transactions_queued", table_name="transactions")
