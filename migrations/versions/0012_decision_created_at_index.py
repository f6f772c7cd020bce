"""Drop the decision table's created_at index: nothing reads by it any more.

Time windows (explorer, exports, purges) and the dashboard's counts per tier walk the primary key,
since decision ids begin with their time; every index left serves an explorer filter, each shown
by a query-plan test. One B-tree fewer for every group commit of the decision log.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_index('ix_decision_created_at')


def downgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.create_index('ix_decision_created_at', ['created_at'], unique=False)
