"""Analytics rollups: points and sales by day and store, member counts by period and each
member's share of them, and how far the rollups have read

Revision ID: 0006_analytics_rollups
Revises: 0005_pos_sources
Create Date: 2026-12-08 01:30:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import loyalty.db

# revision identifiers, used by Alembic.
revision = '0006_analytics_rollups'
down_revision = '0005_pos_sources'
branch_labels = None
depends_on = None

CLOSED = sa.text("status IN ('merged', 'erased')")
OWING = sa.text("balance_after < 0")


def upgrade():
    op.create_table('rollup_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entries_id', sa.BigInteger(), nullable=False),
    sa.Column('sales_id', sa.BigInteger(), nullable=False),
    sa.Column('members_id', sa.BigInteger(), nullable=False),
    sa.Column('movements_id', sa.BigInteger(), nullable=False),
    sa.Column('tier_changes_id', sa.BigInteger(), nullable=False),
    sa.Column('next_entries_id', sa.BigInteger(), nullable=False),
    sa.Column('next_sales_id', sa.BigInteger(), nullable=False),
    sa.Column('next_members_id', sa.BigInteger(), nullable=False),
    sa.Column('next_movements_id', sa.BigInteger(), nullable=False),
    sa.Column('next_tier_changes_id', sa.BigInteger(), nullable=False),
    sa.Column('noted_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('active_days', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollup_state'))
    )
    op.create_table('rollup_points',
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('cause_type', sa.String(length=32), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'store_id', 'kind', 'cause_type', name=op.f('pk_rollup_points'))
    )
    op.create_table('rollup_balances',
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('home_store_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'home_store_id', name=op.f('pk_rollup_balances'))
    )
    op.create_table('rollup_closed_lots',
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('closed_points', sa.BigInteger(), nullable=False),
    sa.Column('expired_points', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'store_id', name=op.f('pk_rollup_closed_lots'))
    )
    op.create_table('rollup_sales',
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('sales_minor', sa.BigInteger(), nullable=False),
    sa.Column('member_sales_minor', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'store_id', name=op.f('pk_rollup_sales'))
    )
    op.create_table('rollup_member_counts',
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('cohort', sa.Integer(), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('members', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'store_id', 'cohort', 'period', name=op.f('pk_rollup_member_counts'))
    )
    op.create_table('rollup_member_shares',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_rollup_member_shares'))
    )
    # members merged or erased: few, found without reading the others
    op.create_index('ix_members_closed', 'members', ['id', 'merged_into_id'], unique=False,
                    postgresql_where=CLOSED, sqlite_where=CLOSED)
    # entries that left a balance below zero: few, and written once (an index on the members'
    # balance would cost every update of a member row its in-place (HOT) update)
    op.create_index('ix_journal_entries_owing', 'journal_entries', ['member_id'], unique=False,
                    postgresql_where=OWING, sqlite_where=OWING)
    # entries after a day: on PostgreSQL a BRIN index, nearly free to keep, as entries are
    # written in about the order of their time
    op.create_index('ix_journal_entries_occurred', 'journal_entries', ['occurred_at'],
                    unique=False, postgresql_using='brin')


def downgrade():
    op.drop_index('ix_journal_entries_occurred', table_name='journal_entries')
    op.drop_index('ix_journal_entries_owing', table_name='journal_entries')
    op.drop_index('ix_members_closed', table_name='members')
    op.drop_table('rollup_closed_lots')
    op.drop_table('rollup_balances')
    op.drop_table('rollup_member_shares')
    op.drop_table('rollup_member_counts')
    op.drop_table('rollup_sales')
    op.drop_table('rollup_points')
    op.drop_table('rollup_state')
