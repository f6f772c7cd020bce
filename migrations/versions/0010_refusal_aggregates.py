"""A decision row may stand for several refused unauthenticated attempts: `attempts` says how many
(1 for every row before this revision, and for every row of its own).

Past a source's allowance, unauthenticated attempts are logged as one aggregate row per reason and
second instead of a row each (govern.decisions.refusals), so that anyone reaching the port cannot
grow the log at will. No index: nothing is looked up by it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default=sa.text('1'), nullable=False))


def downgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_column('attempts')
