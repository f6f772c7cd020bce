"""Decisions asked for by a policy enforcement point (AuthZEN) remember which one asked.

API keys of kind `pep` need no schema change: `api_key.kind` is a free string column.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pep_prefix', sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_column('pep_prefix')
