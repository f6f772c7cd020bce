"""Usage: what an allowed call used (tokens, cost), reported by its gateway or model server, one
row per decision.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'usage',
        sa.Column('decision_id', sa.String(length=26), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=True),
        sa.Column('key_prefix', sa.String(length=40), nullable=True),
        sa.Column('model', sa.String(length=200), nullable=True),
        sa.Column('input_tokens', sa.BigInteger(), nullable=False),
        sa.Column('output_tokens', sa.BigInteger(), nullable=False),
        sa.Column('cost_nanos', sa.BigInteger(), nullable=True),
        sa.Column('reported_by', sa.String(length=40), nullable=False),
        sa.Column('reporter_kind', sa.String(length=20), nullable=False),
        sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('decision_id', name=op.f('pk_usage')),
    )
    op.create_index('ix_usage_org_id_id', 'usage', ['org_id', 'decision_id'], unique=False)


def downgrade():
    op.drop_index('ix_usage_org_id_id', table_name='usage')
    op.drop_table('usage')
